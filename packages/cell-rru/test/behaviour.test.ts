import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { runtimeOf } from '@cellstack/core';
import { buildCell, forward, randomArray3, runCell } from '@cellstack/core/testing';
import { RRU, middleWidth, rruParamCount } from '../src/index.js';

const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' }).use(RRU);

describe('RRU behaviour', () => {
  it('with Z = 0 at initialisation, h_t = σ(S)∘h_{t−1} exactly', () => {
    const cell = buildCell(RRU, { units: 6, outputSize: 4 }, { inputSize: 3, seed: 2 });
    expect(Array.from(cell.params.Z.dataSync())).toEqual([0, 0, 0, 0, 0, 0]);
    const x = randomArray3(2, 7, 3, 4, -3, 3);
    const h0 = [
      [0.9, -1.2, 0.4, 2, -0.3, 0.05],
      [-0.6, 0.3, 1.1, -2, 0.8, 1.5],
    ];
    const r = runCell(cell, x, { initialState: { h: h0 } });
    const decay = r.signals.sigmoidS[0][0];
    // float32 products, one per step: the candidate contributes exactly nothing.
    const expected = h0.map((row) => row.map((v, k) => {
      let h = Math.fround(v);
      for (let t = 0; t < 7; t++) h = Math.fround(h * decay[k]);
      return h;
    }));
    expect(r.state.h).toEqual(expected);
    cell.dispose();
  });

  it('initialises σ(sScale·S) uniformly in (0.01, 0.99) and Z to 0', () => {
    for (const sScale of [10, 1]) {
      const cell = buildCell(RRU, { units: 400, outputSize: 2, sScale }, { inputSize: 1, seed: 3 });
      const s = Array.from(tf.tidy(() => tf.sigmoid(tf.mul(cell.params.S, sScale))).dataSync());
      expect(Math.min(...s)).toBeGreaterThan(0.0099);
      expect(Math.max(...s)).toBeLessThan(0.9901);
      const meanS = s.reduce((a, b) => a + b, 0) / s.length;
      expect(meanS).toBeGreaterThan(0.45);
      expect(meanS).toBeLessThan(0.55);
      // a quarter of U(0.01, 0.99) lies below 0.255
      expect(s.filter((v) => v < 0.255).length / s.length).toBeGreaterThan(0.19);
      expect(s.filter((v) => v < 0.255).length / s.length).toBeLessThan(0.31);
      cell.dispose();
    }
  });

  it('a zero input sequence gives finite outputs and gradients (h_0 = [√n/4, 0, …])', () => {
    for (const normalize of ['rms', 'l2', 'none'] as const) {
      const cell = buildCell(RRU, { units: 5, outputSize: 3, normalize, reluLayers: 2, dropout: 0 }, { inputSize: 2, seed: 5 });
      // a trained-looking cell: non-zero ReZero weights so the candidate feeds the state
      cell.params.Z.assign(tf.fill([5], 0.5));
      const x = tf.zeros([3, 60, 2]) as tf.Tensor3D;
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(forward(cell, x))) as tf.Scalar);
      expect(Number.isFinite(value.dataSync()[0])).toBe(true);
      for (const g of Object.values(grads)) expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
      const out = forward(cell, x);
      expect(Array.from(out.dataSync()).every(Number.isFinite)).toBe(true);
      tf.dispose([x, value, out, ...Object.values(grads)]);
      cell.dispose();
    }
  });

  it('outputs o_t of outputSize, not the state', () => {
    const model = rt.build({ input: { shape: [4, 3] }, layers: [{ cell: 'RRU', options: { units: 7, outputSize: 5 } }, { cell: 'RRU', options: { units: 6, outputSize: 2 } }], seed: 1 });
    expect(model.outputs[0].shape).toEqual([null, 4, 2]);
    model.dispose();
  });

  it('parameter count matches the paper: m 3, n 8, p 5, q 2, reluLayers 2 → 1 085', () => {
    // Paper §3: W^x m×g, W^h n×g, b^j g, W^k g×g, b^k g, W^c g×n, b^c n, W^o g×p, b^o p, S n, Z n; g = q(m+n) = 22.
    const [m, n, p, g] = [3, 8, 5, 22];
    const paper = m * g + n * g + g + (g * g + g) + g * n + n + g * p + p + n + n;
    expect(paper).toBe(1085);
    expect(rruParamCount({ units: n, outputSize: p, q: 2, reluLayers: 2, singleZ: false }, m)).toBe(paper);
    const model = rt.build({ input: { shape: [4, m] }, layers: [{ cell: 'RRU', options: { units: n, outputSize: p, reluLayers: 2 } }], seed: 1 });
    expect(model.countParams()).toBe(paper);
    model.dispose();
    // singleZ: one Z instead of n
    expect(rruParamCount({ units: n, outputSize: p, q: 2, reluLayers: 2, singleZ: true }, m)).toBe(paper - n + 1);
  });

  it('rounds g half to even as the authors\' Python does', () => {
    expect(middleWidth(0.5, 2, 3)).toBe(2); // 2.5 → 2
    expect(middleWidth(0.5, 4, 3)).toBe(4); // 3.5 → 4
    expect(middleWidth(2, 3, 8)).toBe(22);
    // Python: round(0.1*25) = 2, round(0.3*15) = 4, round(1.1*25) = 28 (27.500000000000004), round(2.3*25) = 57
    expect(middleWidth(0.1, 10, 15)).toBe(2);
    expect(middleWidth(0.3, 5, 10)).toBe(4);
    expect(middleWidth(1.1, 10, 15)).toBe(28);
    expect(middleWidth(2.3, 10, 15)).toBe(57);
  });

  describe('dropout', () => {
    // With Z = 0 the state ignores dropout, and with W^o = I (p = g) the output is d_t itself,
    // so the training output must be the inference output times a 0 / (1/keep) mask.
    const n = 2;
    const g = middleWidth(2, 3, n); // 10
    const Wco = Array.from({ length: g }, (_, i) => [...Array.from({ length: n }, () => 0.3), ...Array.from({ length: g }, (_, k) => (k === i ? 1 : 0))]);
    const masksOf = (dropoutMask: 'step' | 'sequence') => {
      const cell = buildCell(RRU, { units: n, outputSize: g, dropout: 0.5, dropoutMask }, { inputSize: 3, seed: 8, values: { Wco } });
      const x = randomArray3(16, 6, 3, 11);
      const clean = runCell(cell, x).outputs;
      const noisy = runCell(cell, x, { training: true }).outputs;
      cell.dispose();
      // mask[b][t][i] for entries where the clean activation is positive
      return clean.map((seq, b) => seq.map((row, t) => row.map((v, i) => {
        if (v <= 1e-6) return undefined;
        const ratio = noisy[b][t][i] / v;
        expect(Math.abs(ratio) < 1e-5 || Math.abs(ratio - 2) < 1e-4, `ratio ${ratio}`).toBe(true);
        return ratio > 1;
      })));
    };
    const kept = (m: Array<Array<Array<boolean | undefined>>>) => m.flat(2).filter((v) => v !== undefined) as boolean[];

    it("'step' (the code's): a fresh inverted-dropout mask at every step", () => {
      const m = masksOf('step');
      const k = kept(m);
      expect(k.length).toBeGreaterThan(200);
      const rate = k.filter((v) => v).length / k.length;
      expect(rate).toBeGreaterThan(0.4);
      expect(rate).toBeLessThan(0.6);
      let changes = 0;
      let pairs = 0;
      for (const seq of m) for (let t = 1; t < seq.length; t++) seq[t].forEach((v, i) => {
        if (v !== undefined && seq[t - 1][i] !== undefined) { pairs++; if (v !== seq[t - 1][i]) changes++; }
      });
      expect(changes / pairs).toBeGreaterThan(0.3); // ≈ 0.5 for independent masks
    });

    it("'sequence': one mask per sequence (variational)", () => {
      const m = masksOf('sequence');
      const rate = kept(m).filter((v) => v).length / kept(m).length;
      expect(rate).toBeGreaterThan(0.4);
      expect(rate).toBeLessThan(0.6);
      for (const seq of m) for (let t = 1; t < seq.length; t++) seq[t].forEach((v, i) => {
        if (v !== undefined && seq[t - 1][i] !== undefined) expect(v).toBe(seq[t - 1][i]);
      });
    });

    it('draws its masks from the layer seed (reproducible training)', () => {
      const run = (seed: number) => {
        const cell = buildCell(RRU, { units: 3, outputSize: 2, dropout: 0.5 }, { inputSize: 2, seed });
        cell.params.Z.assign(tf.fill([3], 0.5));
        const x = randomArray3(2, 4, 2, 1);
        const out = [runCell(cell, x, { training: true }).outputs, runCell(cell, x, { training: true }).outputs];
        cell.dispose();
        return out;
      };
      const [a1, a2] = run(5);
      const [b1] = run(5);
      expect(b1).toEqual(a1); // same seed, same masks
      expect(a2).not.toEqual(a1); // a fresh mask for every forward pass
    });

    it('is inactive at inference', () => {
      const a = buildCell(RRU, { units: 3, outputSize: 2, dropout: 0.7 }, { inputSize: 2, seed: 4 });
      const b = buildCell(RRU, { units: 3, outputSize: 2, dropout: 0 }, { inputSize: 2, seed: 4 });
      const x = randomArray3(2, 5, 2, 1);
      expect(runCell(a, x).outputs).toEqual(runCell(b, x).outputs);
      a.dispose();
      b.dispose();
    });
  });
});
