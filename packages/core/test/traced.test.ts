import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  GRU,
  LSTM,
  SimpleRNN,
  configure,
  createRuntime,
  defineCell,
  init,
  layerPaths,
  nativeKernels,
  productMultiplyAdds,
  runSequence,
  setKernelPreference,
  settings,
  trace,
  type CellInstance,
  type Params,
} from '@cellstack/core';
import { buildCell, compareFused, leakedTensors, randomTensor, saveAndLoad } from '@cellstack/core/testing';
import { OP_WORDS, lower } from '../src/trace/lower.js';

const nativeSetting = { native: settings().native, nativeMinProduct: settings().nativeMinProduct };
afterEach(() => {
  trace.setTraceInterpreter('wasm');
  configure(nativeSetting);
});

/**
 * Where a traced program runs: kernel/trace.c's interpreter in wasm (the addon switched off), the
 * same interpreter compiled into the native addon (which runs it whenever it is active), or the JS
 * reference interpreter.
 */
const RUNNERS = ['wasm', 'native', 'js'] as const;
function useRunner(runner: (typeof RUNNERS)[number]): void {
  trace.setTraceInterpreter(runner === 'js' ? 'js' : 'wasm');
  configure({ native: runner === 'native' });
}
const skipRunner = (runner: string) => runner === 'native' && !nativeKernels().available;

const H = 6;

/** A cell whose step uses every traceable op family, so each adjoint rule meets tf's own gradient. */
const AllOps = defineCell<{ units: number }>({
  name: 'TraceAllOps',
  description: 'every traceable op in one step',
  schema: { type: 'object', properties: { units: { type: 'integer', minimum: 2, default: H } }, additionalProperties: false },
  create: ({ units: n }, { inputSize: F }) => ({
    state: { h: n, c: n },
    outputSize: n,
    params: {
      w: { shape: [F, n], init: init.glorotUniform() },
      u: { shape: [n, n], init: init.orthogonal() },
      g: { shape: [n], init: init.uniform(0.5, 1.5) },
    },
    project: (x, p) => ({ x: tf.matMul(x, p.w) }),
    step({ x }, { h, c }, p) {
      const B = h.shape[0];
      const a = tf.add(x, tf.matMul(h, p.u as tf.Tensor2D));
      const s = tf.softmax(a);
      const cm = tf.cumsum(s, 1);
      const cmr = tf.cumsum(a, 1, true, true);
      const mx = tf.max(a, 1, true);
      const mn = tf.min(a, 1, true);
      const { mean, variance } = tf.moments(a, 1, true);
      const norm = tf.mul(tf.div(tf.sub(a, mean), tf.sqrt(tf.add(variance, 1e-3))), p.g);
      const r = tf.mul(norm, tf.rsqrt(tf.add(tf.abs(c), 1)));
      const e = tf.sub(tf.exp(tf.neg(tf.relu(r))), tf.log(tf.add(tf.sigmoid(a), 0.5)));
      // tfjs has no gradient for comparisons: the condition comes from step (zero gradient) cast to bool.
      const w = tf.where(tf.cast(tf.step(a), 'bool'), e, tf.leakyRelu(a, 0.2));
      const pw = tf.pow(tf.add(tf.abs(w), 1), 1.5);
      const both = tf.maximum(tf.div(pw, 3), tf.minimum(cm, cmr));
      const rotated = tf.concat([tf.slice(both, [0, 1], [-1, n - 1]), tf.slice(both, [0, 0], [-1, 1])], 1);
      const swapped = tf.reshape(tf.transpose(tf.reshape(rotated, [B, 2, n / 2]), [0, 2, 1]), [B, n]);
      const [lo, hi] = tf.split(swapped, 2, 1);
      const h2 = tf.tanh(tf.add(tf.mul(tf.concat([hi, lo], 1), 0.3), tf.sub(tf.tile(mx, [1, n]), mn))) as tf.Tensor2D;
      const c2 = tf.add(tf.mul(c, 0.5), tf.mean(tf.mul(tf.square(h2), s), 1, true)) as tf.Tensor2D;
      return { output: h2, state: { h: h2, c: c2 } };
    },
  }),
});

/** A leaky cell with one odd ingredient per `kind`, each outside what tracing accepts. */
const Odd = defineCell<{ kind: 'sin' | 'read' | 'time' }>({
  name: 'TraceOdd',
  description: 'non-traceable steps',
  schema: { type: 'object', properties: { kind: { enum: ['sin', 'read', 'time'], default: 'sin' } }, additionalProperties: false },
  create: ({ kind }, { inputSize: F }) => ({
    state: { h: 3 },
    outputSize: 3,
    params: { w: { shape: [F, 3], init: init.glorotUniform() } },
    project: (x, p) => ({ x: tf.matMul(x, p.w) }),
    step({ x }, { h }, _p, { t }) {
      let carried: tf.Tensor = h;
      if (kind === 'sin') carried = tf.sin(h);
      if (kind === 'read' && (tf.sum(h).dataSync()[0] as number) > 1e9) carried = tf.neg(h);
      if (kind === 'time') carried = tf.mul(h, 1 / (t + 1));
      const h2 = tf.tanh(tf.add(x, tf.mul(carried, 0.5))) as tf.Tensor2D;
      return { output: h2, state: { h: h2 } };
    },
  }),
});

const REASONS = {
  sin: "step loop: tf op 'Sin' is outside the traceable subset",
  read: 'step loop: the step reads tensor values (dataSync/arraySync): a data-dependent step cannot be traced',
  time: 'step loop: the step depends on the step index t (e.g. a mask drawn per step)',
};

describe('tracing a step', () => {
  it("records SimpleRNN's step as matmul → add → tanh over named [B, n] buffers", () => {
    const built = buildCell(SimpleRNN, { units: 3 }, { inputSize: 2 });
    const p = trace.traceStep(built.cell, { batch: 4, inputs: { x: 3 }, params: { kernel: [2, 3], recurrent: [3, 3], bias: [3] }, constants: {} }, false, 5);
    expect(p.ops.map((o) => o.op + ('fn' in o ? `:${o.fn}` : ''))).toEqual(['matmul', 'binary:add', 'unary:tanh']);
    const [mm, add, tanh] = p.ops;
    expect(mm).toMatchObject({ a: p.state.h, b: p.params.recurrent, transA: false, transB: false });
    expect(add).toMatchObject({ a: p.inputs.x, b: mm.out });
    expect(p.output).toBe(tanh.out);
    expect(p.nextState.h).toBe(tanh.out);
    expect(p.buffers[p.state.h]).toEqual({ shape: [4, 3], role: 'state', name: 'state.h' });
    expect(JSON.parse(JSON.stringify(p))).toEqual(p); // plain data: serialisable for other emitters
    built.dispose();
  });

  it('the reference interpreter runs a program on hand-computed values', () => {
    const built = buildCell(SimpleRNN, { units: 1 }, { inputSize: 1 });
    const p = trace.traceStep(built.cell, { batch: 2, inputs: { x: 1 }, params: { kernel: [1, 1], recurrent: [1, 1], bias: [1] }, constants: {} }, false, 1);
    const run = new trace.Interpreter(p.buffers, p.ops);
    run.bind(p.inputs.x, Float32Array.of(0.5, -1));
    run.bind(p.state.h, Float32Array.of(2, 0.25));
    run.bind(p.params.recurrent, Float32Array.of(-0.5));
    run.run();
    // tanh(x + h·u): tanh(0.5 − 1) and tanh(−1 − 0.125).
    expect(Array.from(run.get(p.output))).toEqual([Math.tanh(-0.5), Math.tanh(-1.125)].map((v) => expect.closeTo(v, 6)));
    built.dispose();
  });

  it('the adjoint stores no more per step than the products and reductions it reads, and never a value it recomputes', () => {
    const built = buildCell(AllOps, {}, { inputSize: 3 });
    const p = trace.traceStep(built.cell, { batch: 2, inputs: { x: H }, params: { w: [3, H], u: [H, H], g: [H] }, constants: {} }, false, 3);
    const a = trace.differentiate(p);
    const next = new Set(Object.values(p.nextState));
    const size = (id: number) => p.buffers[id].shape.reduce((x, y) => x * y, 1);
    const stored = a.saved.filter((id) => !next.has(id)).reduce((x, id) => x + size(id), 0);
    // The old rule's store: h·u [2, 6], softmax [2, 6], cumsum ×2 [2, 6], max, min, mean, variance [2, 1] each.
    expect(stored).toBeGreaterThan(0);
    expect(stored).toBeLessThanOrEqual(4 * 12 + 4 * 2);
    const recomputed = new Set(a.ops.filter((o) => o.out < p.buffers.length).map((o) => o.out));
    for (const id of a.saved) expect(recomputed.has(id)).toBe(false);
    expect(Object.keys(a.gradParams).sort()).toEqual(['g', 'u']); // w only feeds project
    expect(Object.keys(a.gradState).sort()).toEqual(['c', 'h']);
    built.dispose();
  });

  // The save-vs-recompute rule (remat.ts): an activation whose input is a product is read from its stored output.
  it.each([
    { cell: LSTM, transcendentals: { tanh: 1 }, why: 'tanh(c): c is a state, so storing tanh(c) would cost one more [B, n]' },
    { cell: GRU, transcendentals: {}, why: 'every activation stored in place of the recurrent product' },
  ])('$cell.name: the adjoint reads sigmoid/tanh outputs stored per step, at no more memory than the product ($why)', ({ cell, transcendentals }) => {
    const n = 4;
    const built = buildCell(cell, { units: n }, { inputSize: 3 });
    const shapes = { batch: 2, project: true, inputs: { x: 3 }, params: Object.fromEntries(Object.entries(built.params).map(([k, v]) => [k, v.shape])), constants: {} };
    const p = trace.traceStep(built.cell, shapes, true, 3);
    const a = trace.differentiate(p);
    const counts: Record<string, number> = {};
    for (const o of a.ops) if (o.op === 'unary' && ['sigmoid', 'tanh', 'exp'].includes(o.fn)) counts[o.fn] = (counts[o.fn] ?? 0) + 1;
    expect(counts).toEqual(transcendentals);
    // No product is redone either: the input projection only fed the activations.
    expect(a.ops.filter((o) => o.op === 'matmul' && o.out < p.buffers.length)).toEqual([]);
    const next = new Set(Object.values(p.nextState));
    const stored = a.saved.filter((id) => !next.has(id)).reduce((x, id) => x + p.buffers[id].shape.reduce((u, v) => u * v, 1), 0);
    // The recurrent product h·U: [2, 4n] (LSTM), [2, 3n] (GRU).
    expect(stored).toBe(2 * n * (cell === LSTM ? 4 : 3));
    built.dispose();
  });
});

describe.each(RUNNERS)('traced kernel on the %s interpreter', (runner) => {
  it.skipIf(skipRunner(runner)).each([
    { batch: 1, time: 1, inputSize: 1 },
    { batch: 3, time: 7, inputSize: 5 },
    { batch: 2, time: 13, inputSize: 3 },
    // Over two chunk boundaries (lower.ts CHUNK = 32) with a short last chunk: the per-chunk products.
    { batch: 2, time: 71, inputSize: 3 },
  ])('every op family: outputs, states and gradients equal the generic loop (B $batch, T $time)', (shape) => {
    useRunner(runner);
    const built = buildCell(AllOps, {}, { inputSize: shape.inputSize, seed: 4 });
    const r = compareFused(built, { ...shape, kernel: 'traced' });
    expect(r.path).toBe('traced');
    expect(r.fusedRuns).toBe(1);
    expect(Object.keys(r.errors).sort()).toEqual(['grad.g', 'grad.state.c', 'grad.state.h', 'grad.u', 'grad.w', 'grad.x', 'output', 'state.c', 'state.h']);
    for (const [what, err] of Object.entries(r.errors)) expect(err, what).toBeLessThan(1e-4);
    built.dispose();
  });
});

/** Wide elementwise steps, tiny products: h' = tanh(x + h/2)·σ(h). */
const Wide = defineCell<{ units: number }>({
  name: 'TraceWide',
  description: 'wide elementwise steps',
  schema: { type: 'object', properties: { units: { type: 'integer', minimum: 1, default: 1024 } }, additionalProperties: false },
  create: ({ units: n }, { inputSize: F }) => ({
    state: { h: n },
    outputSize: n,
    params: { w: { shape: [F, n], init: init.glorotUniform() } },
    project: (x, p) => ({ x: tf.matMul(x, p.w) }),
    step({ x }, { h }) {
      const h2 = tf.mul(tf.tanh(tf.add(x, tf.mul(h, 0.5))), tf.sigmoid(h)) as tf.Tensor2D;
      return { output: h2, state: { h: h2 } };
    },
  }),
});
const nativeThreads = settings().threads;

describe.skipIf(!nativeKernels().available)('the native runner', () => {
  it('runs the program on the addon whenever the addon is active, whatever the product threshold, and counts its products', () => {
    // B 3, T 7, F 5, n 6, forward only: x·w for all steps (3·7·5·6 = 630) and h·u per step (7·3·6·6 = 756).
    const built = buildCell(AllOps, {}, { inputSize: 5, seed: 4 });
    const x = randomTensor([3, 7, 5], 1) as tf.Tensor3D;
    const macs = (native: boolean) => {
      // A threshold no product reaches: the wasm module's products never leave it, so only the addon's runner counts any.
      configure({ native, nativeMinProduct: 2 ** 40 });
      expect(nativeKernels().traced).toBe(native);
      const before = productMultiplyAdds();
      const r = runSequence(built.cell, built.params as Params, x, { training: false, returnSequences: true });
      expect(r.path).toBe('traced');
      tf.dispose([r.output, ...Object.values(r.state)]);
      return productMultiplyAdds() - before;
    };
    expect(macs(true)).toBe(630 + 756);
    expect(macs(false)).toBe(0);
    x.dispose();
    built.dispose();
  });

  it("splits a step's fused elementwise runs over its threads: results bit-identical on 1 and 2 threads", () => {
    const { threadedProducts } = createRequire(import.meta.url)('@cellstack/native') as { threadedProducts: () => number };
    // B 8 × 1024 units: 8192 elements a run, two threads' worth (≥ 4096 each); every product too small to split.
    const built = buildCell(Wide, {}, { inputSize: 2, seed: 3 });
    const x = randomTensor([8, 3, 2], 2) as tf.Tensor3D;
    const run = (threads: number) => {
      configure({ native: true, threads, rowBlocks: false });
      const before = threadedProducts();
      const r = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => {
          const s = runSequence(built.cell, built.params as Params, x, { training: true, returnSequences: true });
          expect(s.path).toBe('traced');
          return tf.sum(tf.mul(s.output, s.output));
        }, Object.values(built.params));
        return [value, ...Object.values(grads)].map((t) => Array.from(t.dataSync()));
      });
      return { r, split: threadedProducts() - before };
    };
    const one = run(1);
    const two = run(2);
    expect(one.split).toBe(0);
    expect(two.split).toBeGreaterThan(0);
    expect(two.r).toEqual(one.r);
    configure({ threads: nativeThreads, rowBlocks: true });
    x.dispose();
    built.dispose();
  });

  it.each([LSTM, GRU])('$name at B 64, 128 units (gate math on two threads, slices read and concat pieces written in place): bit-identical on 1 and 2 threads', (cell) => {
    const built = buildCell(cell, { units: 128 }, { inputSize: 3, seed: 6 });
    const x = randomTensor([64, 3, 3], 7) as tf.Tensor3D;
    const run = (threads: number) => {
      configure({ native: true, threads, rowBlocks: false });
      setKernelPreference('traced');
      return tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => {
          const s = runSequence(built.cell, built.params as Params, x, { training: true, returnSequences: true });
          expect(s.path).toBe('traced');
          return tf.sum(tf.mul(s.output, s.output));
        }, Object.values(built.params));
        return [value, ...Object.values(grads)].map((t) => Array.from(t.dataSync()));
      });
    };
    expect(run(2)).toEqual(run(1));
    setKernelPreference('hand-written');
    configure({ threads: nativeThreads, rowBlocks: true });
    x.dispose();
    built.dispose();
  });
});

/**
 * Products per batch row, as NRU's heads: an outer product p qᵀ of each row ([B, r, 1] ⊙ [B, 1, r]) and a
 * row times that step's matrix (p·(p qᵀ), [B, 1, r] × [B, r, r]), whose adjoint reads the matrix transposed.
 * r 5: vector lanes and a tail.
 */
const PerRow = defineCell<{ r: number }>({
  name: 'TracePerRow',
  description: 'per-row outer products and products',
  schema: { type: 'object', properties: { r: { type: 'integer', minimum: 1, default: 5 } }, additionalProperties: false },
  create: ({ r }, { inputSize: F }) => ({
    state: { h: r * r },
    outputSize: r * r,
    params: { w: { shape: [F, 2 * r], init: init.glorotUniform() }, u: { shape: [r * r, 2 * r], init: init.glorotUniform() } },
    project: (x, p) => ({ x: tf.matMul(x, p.w) }),
    step({ x }, { h }, p) {
      const B = h.shape[0];
      const [a, b] = tf.split(tf.tanh(tf.add(x, tf.matMul(h, p.u as tf.Tensor2D))), 2, 1);
      const outer = tf.mul(tf.reshape(a, [B, r, 1]), tf.reshape(b, [B, 1, r]));
      const back = tf.reshape(tf.matMul(tf.reshape(a, [B, 1, r]) as tf.Tensor3D, outer as tf.Tensor3D), [B, r]);
      const h2 = tf.tanh(tf.add(tf.add(tf.mul(h, 0.5), tf.reshape(outer, [B, r * r])), tf.tile(back, [1, r]))) as tf.Tensor2D;
      return { output: h2, state: { h: h2 } };
    },
  }),
});

describe('products per batch row', () => {
  it("the adjoint's per-row product against the step's matrix transposed runs as dot products: no transposed copy per step", () => {
    const r = 5;
    const built = buildCell(PerRow, { r }, { inputSize: 3 });
    const p = trace.traceStep(built.cell, { batch: 3, inputs: { x: 2 * r }, params: { w: [3, 2 * r], u: [r * r, 2 * r] }, constants: {} }, false, 3);
    const a = trace.differentiate(p);
    const records = (code: Int32Array) => Array.from({ length: code.length / OP_WORDS }, (_, k) => Array.from(code.subarray(k * OP_WORDS, (k + 1) * OP_WORDS)));
    // kernel/trace.c's codes: MATMUL 4, TRANSPOSE2 10; a product's words 5, 6, 15: batch, M, B read as [N, K].
    const perRow = (ops: typeof p.ops, buffers: typeof p.buffers) => {
      const low = lower(buffers, ops);
      if (typeof low === 'string') throw new Error(low);
      const all = records(low.code);
      expect(all.filter((w) => w[0] === 10)).toEqual([]);
      return all.filter((w) => w[0] === 4 && w[5] === 3 && w[6] === 1).map((w) => w[15]);
    };
    expect(perRow(p.ops, p.buffers)).toEqual([0]); // p·(p qᵀ)
    expect(perRow(a.ops, a.buffers)).toEqual([1]); // g·(p qᵀ)ᵀ
    built.dispose();
  });

  it.each(RUNNERS)('equals the generic loop at an odd batch on the %s interpreter', (runner) => {
    if (skipRunner(runner)) return;
    useRunner(runner);
    for (const r of [5, 3]) {
      const built = buildCell(PerRow, { r }, { inputSize: 3, seed: 5 });
      const c = compareFused(built, { batch: 7, time: 9, inputSize: 3, kernel: 'traced', training: true });
      expect(c.path).toBe('traced');
      expect(Object.keys(c.errors).sort()).toEqual(['grad.state.h', 'grad.u', 'grad.w', 'grad.x', 'output', 'state.h']);
      for (const [what, err] of Object.entries(c.errors)) expect(err, `r ${r} ${what}`).toBeLessThan(1e-4);
      built.dispose();
    }
  });
});

// The compiled loops run input projections and parameter / input gradients once per chunk of 32 steps (lower.ts).
describe.each([LSTM, GRU])('$name traced over several chunks of steps', (cell) => {
  it.each([{ time: 32 }, { time: 33 }, { time: 70 }])('equals the generic loop: T $time', ({ time }) => {
    const built = buildCell(cell, { units: 5 }, { inputSize: 4, seed: 2 });
    const r = compareFused(built, { batch: 3, time, inputSize: 4, kernel: 'traced', training: true });
    expect(r.path).toBe('traced');
    expect(Object.keys(r.errors)).toContain('grad.kernel');
    for (const [what, err] of Object.entries(r.errors)) expect(err, what).toBeLessThan(1e-4);
    built.dispose();
  });
});

describe('falling back to the step loop', () => {
  it.each(Object.entries(REASONS))('%s: the stated reason, the generic results', (kind, reason) => {
    const built = buildCell(Odd, { kind }, { inputSize: 2 });
    const x = randomTensor([2, 4, 2], 3) as tf.Tensor3D;
    const r = runSequence(built.cell, built.params as Params, x, { training: false, returnSequences: true });
    expect(r.path).toBe(reason);
    const cmp = compareFused(built, { batch: 2, time: 4, inputSize: 2, kernel: 'traced' });
    expect(cmp.fusedRuns).toBe(0);
    expect(cmp.path).toBe(reason);
    tf.dispose([x, r.output, ...Object.values(r.state)]);
    built.dispose();
  });

  it('a model reports each layer’s path truthfully', async () => {
    const rt = await createRuntime({ backend: 'wasm', cells: [AllOps, Odd] });
    const model = rt.build({
      input: { shape: [5, 2] },
      layers: [{ cell: 'SimpleRNN', options: { units: 4 } }, { cell: 'TraceAllOps' }, { cell: 'TraceOdd', options: { kind: 'time' } }, { type: 'last' }, { type: 'dense', units: 1 }],
      seed: 4,
    });
    expect(layerPaths(model).map((l) => l.path)).toEqual([undefined, undefined, undefined]);
    model.compile({ optimizer: 'adam', loss: 'meanSquaredError' });
    const [x, y] = [randomTensor([3, 5, 2], 5), randomTensor([3, 1], 6)];
    await model.trainOnBatch(x, y);
    expect(layerPaths(model).map(({ cell, path }) => [cell, path])).toEqual([
      ['SimpleRNN', 'hand-written'],
      ['TraceAllOps', 'traced'],
      ['TraceOdd', REASONS.time],
    ]);
    tf.dispose([x, y]);
    model.dispose();
  });
});

describe('a traced layer in a model', () => {
  it('trains, leaks no tensors, and saves → loads to identical outputs', async () => {
    const rt = await createRuntime({ backend: 'wasm', cells: [AllOps] });
    const model = rt.build({ input: { shape: [5, 2] }, layers: [{ cell: 'TraceAllOps', repeat: 2 }, { type: 'last' }, { type: 'dense', units: 1 }], seed: 4 });
    model.compile({ optimizer: 'adam', loss: 'meanSquaredError' });
    const [x, y] = [randomTensor([3, 5, 2], 5), randomTensor([3, 1], 6)];
    const first = (await model.trainOnBatch(x, y)) as number;
    expect(await leakedTensors(model, x, y, 20)).toBe(0);
    const last = (await model.trainOnBatch(x, y)) as number;
    expect(last).toBeLessThan(first);
    expect(layerPaths(model).every((l) => l.path === 'traced')).toBe(true);
    const loaded = await saveAndLoad(model);
    const [a, b] = [model, loaded].map((m) => tf.tidy(() => (m.predict(x) as tf.Tensor).arraySync()));
    expect(b).toEqual(a);
    tf.dispose([x, y]);
    model.dispose();
    loaded.dispose();
  });

  it('traces once per shape: the program is cached on the cell', () => {
    const built = buildCell(AllOps, {}, { inputSize: 2 });
    const cell: CellInstance = { ...built.cell, step: (...args) => (calls++, built.cell.step(...args)) };
    let calls = 0;
    const run = () => tf.tidy(() => runSequence(cell, built.params as Params, tf.zeros([2, 4, 2]) as tf.Tensor3D, { training: false, returnSequences: true }).path);
    // Traced at t = 0 and t = 1; on the addon with row blocks (two threads or more) also for a block of one row.
    const traces = nativeKernels().traced && settings().rowBlocks && settings().threads > 1 ? 4 : 2;
    expect(run()).toBe('traced');
    expect(calls).toBe(traces);
    expect(run()).toBe('traced');
    expect(calls).toBe(traces);
    built.dispose();
  });
});
