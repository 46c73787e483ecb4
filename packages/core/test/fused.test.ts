import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { createRuntime, defineCell, fusedCall, init, loadKernel, runSequence, setFusedKernels, type Params, type State } from '@cellstack/core';
import { buildCell, compareFused, fusedTrainingCurves, leakedTensors, randomTensor, saveAndLoad } from '@cellstack/core/testing';

let fusedCalls = 0;

/**
 * h_t = tanh(x_t W + b + decay · h_{t−1}), with a fused path written in plain JS over
 * fusedCall (the machinery a wasm kernel uses). `skip` makes fused decline; `broken`
 * drops the recurrent term from the backward pass, which compareFused must catch.
 */
const Leaky = defineCell<{ units: number; decay: number; skip: boolean; broken: boolean }>({
  name: 'FusedLeaky',
  description: 'leaky tanh cell with a JS fused path',
  schema: {
    type: 'object',
    properties: {
      units: { type: 'integer', minimum: 1, default: 4 },
      decay: { type: 'number', default: 0.7 },
      skip: { type: 'boolean', default: false },
      broken: { type: 'boolean', default: false },
    },
    additionalProperties: false,
  },
  create: ({ units: H, decay, skip, broken }, { inputSize: F }) => ({
    state: { h: H },
    outputSize: H,
    params: { w: { shape: [F, H], init: init.glorotUniform() }, b: { shape: [H], init: init.uniform(-0.5, 0.5) } },
    project: (x, p) => ({ x: tf.add(tf.matMul(x, p.w), p.b) }),
    step: ({ x }, { h }) => {
      const h2 = tf.tanh(tf.add(x, tf.mul(h, decay))) as tf.Tensor2D;
      return { output: h2, state: { h: h2 }, signals: { h: h2 } };
    },
    signals: ['h'],
    fused(x: tf.Tensor3D, { h }: State, p: Params) {
      if (skip) return undefined;
      fusedCalls++;
      const [B, T] = x.shape;
      const [out, hT] = fusedCall([x, p.w, p.b, h], [[B, T, H], [B, H]], {
        forward([xv, w, b, h0]) {
          const o = new Float32Array(B * T * H);
          for (let i = 0; i < B; i++) {
            for (let t = 0; t < T; t++) {
              for (let j = 0; j < H; j++) {
                let a = b[j] + decay * (t ? o[(i * T + t - 1) * H + j] : h0[i * H + j]);
                for (let f = 0; f < F; f++) a += xv[(i * T + t) * F + f] * w[f * H + j];
                o[(i * T + t) * H + j] = Math.tanh(a);
              }
            }
          }
          const last = new Float32Array(B * H);
          for (let i = 0; i < B; i++) last.set(o.subarray((i * T + T - 1) * H, (i * T + T) * H), i * H);
          return { outputs: [o, last], saved: o };
        },
        backward([xv, w], o, [dout, dhT]) {
          const dx = new Float32Array(B * T * F);
          const dw = new Float32Array(F * H);
          const db = new Float32Array(H);
          const dh = Float32Array.from(dhT);
          for (let t = T - 1; t >= 0; t--) {
            for (let i = 0; i < B; i++) {
              for (let j = 0; j < H; j++) {
                const r = (i * T + t) * H + j;
                const da = (dh[i * H + j] + dout[r]) * (1 - o[r] * o[r]);
                dh[i * H + j] = broken ? 0 : da * decay;
                db[j] += da;
                for (let f = 0; f < F; f++) {
                  dw[f * H + j] += xv[(i * T + t) * F + f] * da;
                  dx[(i * T + t) * F + f] += da * w[f * H + j];
                }
              }
            }
          }
          return [dx, dw, db, dh];
        },
      });
      return { output: out as tf.Tensor3D, state: { h: hT as tf.Tensor2D } };
    },
  }),
});

afterEach(() => setFusedKernels(true));

describe('fused kernels (the machinery, on a JS kernel)', () => {
  it('compareFused: outputs, final state and every gradient equal the generic loop', () => {
    for (const shape of [{ batch: 1, time: 1, inputSize: 1 }, { batch: 3, time: 5, inputSize: 2 }]) {
      const built = buildCell(Leaky, { units: 3 }, { inputSize: shape.inputSize });
      const r = compareFused(built, shape);
      expect(r.fusedRuns).toBe(1);
      expect(Object.keys(r.errors).sort()).toEqual(['grad.b', 'grad.state.h', 'grad.w', 'grad.x', 'output', 'state.h']);
      for (const [k, e] of Object.entries(r.errors)) expect(e, k).toBeLessThan(1e-5);
      built.dispose();
    }
  });

  it('compareFused catches a wrong backward pass', () => {
    const built = buildCell(Leaky, { units: 3, broken: true }, { inputSize: 2 });
    const r = compareFused(built, { batch: 2, time: 6, inputSize: 2 });
    expect(r.errors.output).toBeLessThan(1e-5);
    expect(r.errors['grad.w']).toBeGreaterThan(1e-2);
    expect(r.errors['grad.state.h']).toBeGreaterThan(0.5);
    built.dispose();
  });

  it('the generic loop runs when fused declines, when switched off, and while probing', () => {
    const x = randomTensor([2, 4, 2], 3) as tf.Tensor3D;
    const on = buildCell(Leaky, { units: 3 }, { inputSize: 2, seed: 2 });
    const declines = buildCell(Leaky, { units: 3, skip: true }, { inputSize: 2, seed: 2 });
    const run = (b: typeof on, recordSignals = false) =>
      tf.tidy(() => runSequence(b.cell, b.params as Params, x, { training: false, returnSequences: true, recordSignals }).output.arraySync());
    fusedCalls = 0;
    const fused = run(on);
    expect(fusedCalls).toBe(1);
    const generic = run(declines);
    setFusedKernels(false);
    const off = run(on);
    setFusedKernels(true);
    const probed = run(on, true);
    expect(fusedCalls).toBe(1);
    for (const other of [generic, off, probed]) {
      expect((other as number[][][]).flat(2)).toEqual((fused as number[][][]).flat(2).map((v) => expect.closeTo(v, 5)));
    }
    tf.dispose(x);
    on.dispose();
    declines.dispose();
  });

  it('trains like the generic loop, leaks no tensors, and saves → loads to identical outputs', async () => {
    const { generic, fused } = await fusedTrainingCurves([Leaky], [{ cell: 'FusedLeaky', options: { units: 5 } }], { steps: 10 });
    expect(fused[9]).toBeLessThan(fused[0]);
    fused.forEach((l, i) => expect(Math.abs(l - generic[i]) / generic[i]).toBeLessThan(1e-4));

    const rt = await createRuntime({ backend: 'wasm', cells: [Leaky] });
    const model = rt.build({ input: { shape: [5, 2] }, layers: [{ cell: 'FusedLeaky', options: { units: 4 }, repeat: 2 }, { type: 'last' }, { type: 'dense', units: 1 }], seed: 4 });
    model.compile({ optimizer: 'adam', loss: 'meanSquaredError' });
    const x = randomTensor([3, 5, 2], 5);
    const y = randomTensor([3, 1], 6);
    fusedCalls = 0;
    expect(await leakedTensors(model, x, y, 20)).toBe(0);
    expect(fusedCalls).toBeGreaterThan(0);
    const loaded = await saveAndLoad(model);
    const [a, b] = [model, loaded].map((m) => tf.tidy(() => (m.predict(x) as tf.Tensor).arraySync()));
    expect(b).toEqual(a);
    tf.dispose([x, y]);
  });

  it('loadKernel names the missing file and the fix', () => {
    expect(() => loadKernel(new URL('file:///nonexistent/cell.wasm'))).toThrow(/kernel: cannot read \/nonexistent\/cell.wasm.*npm run kernels/);
  });
});
