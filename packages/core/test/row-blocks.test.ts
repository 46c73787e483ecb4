import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { GRU, LSTM, configure, defineCell, init, nativeKernels, runSequence, setKernelPreference, settings, trace, type CellPlugin, type Params } from '@cellstack/core';
import { buildCell, compareFused, randomTensor } from '@cellstack/core/testing';
import { rowBlockReason } from '../src/trace/split.js';

const initial = { ...settings() };
afterEach(() => {
  configure(initial);
  setKernelPreference('hand-written');
});

/** Runs that used the addon's pool (traceParts counts one per call: forward, backward). */
const pooled = () => (createRequire(import.meta.url)('@cellstack/native') as { threadedProducts: () => number }).threadedProducts();

/**
 * A cell with both kinds of `begin` constant: `mask` [B, n] (one row per batch row, from a
 * parameter, so its gradient matters) and `scale` [n] (the same for every row).
 */
const Masked = defineCell<{ units: number }>({
  name: 'RowMasked',
  description: 'begin constants per row and per sequence',
  schema: { type: 'object', properties: { units: { type: 'integer', minimum: 1, default: 5 } }, additionalProperties: false },
  create: ({ units: n }, { inputSize: F }) => ({
    state: { h: n },
    outputSize: n,
    params: {
      w: { shape: [F, n], init: init.glorotUniform() },
      u: { shape: [n, n], init: init.orthogonal() },
      m: { shape: [n], init: init.uniform(-1, 1) },
      g: { shape: [n], init: init.uniform(-1, 1) },
    },
    project: (x, p) => ({ x: tf.matMul(x, p.w) }),
    begin: ({ batch }, p) => {
      const rows = tf.add(0.75, tf.mul(0.25, tf.sin(tf.reshape(tf.range(0, batch * n), [batch, n]))));
      return { mask: tf.mul(rows, tf.sigmoid(p.m)), scale: tf.sigmoid(p.g) };
    },
    step({ x }, { h }, p, { constants }) {
      const a = tf.add(x, tf.matMul(tf.mul(h, constants.mask), p.u as tf.Tensor2D));
      const h2 = tf.mul(tf.tanh(a), constants.scale) as tf.Tensor2D;
      return { output: h2, state: { h: h2 } };
    },
  }),
});

/** Steps that mix batch rows, each in one way split.ts must catch. */
const Mixing = defineCell<{ kind: 'sum' | 'gram' }>({
  name: 'RowMixing',
  description: 'steps that read other batch rows',
  schema: { type: 'object', properties: { kind: { enum: ['sum', 'gram'], default: 'sum' } }, additionalProperties: false },
  create: ({ kind }, { inputSize: F }) => ({
    state: { h: 4 },
    outputSize: 4,
    params: { w: { shape: [F, 4], init: init.glorotUniform() }, u: { shape: [4, 4], init: init.orthogonal() } },
    project: (x, p) => ({ x: tf.matMul(x, p.w) }),
    step({ x }, { h }, p) {
      const a = tf.add(x, tf.matMul(h, p.u as tf.Tensor2D));
      const mixed = kind === 'sum' ? tf.sub(a, tf.mul(0.1, tf.sum(a, 0, true))) : tf.add(a, tf.mul(0.1, tf.matMul(tf.matMul(h, h, false, true), h)));
      const h2 = tf.tanh(mixed) as tf.Tensor2D;
      return { output: h2, state: { h: h2 } };
    },
  }),
});

/** The step and its adjoint traced at B rows (training, T > 1). */
function traced(plugin: CellPlugin<never>, options: Record<string, unknown>, B: number) {
  const built = buildCell(plugin, options, { inputSize: 3, seed: 1 });
  const params = Object.fromEntries(Object.entries(built.params).map(([k, v]) => [k, v.shape]));
  const { cell } = built;
  const widths = tf.tidy(() => Object.fromEntries(Object.entries(cell.project!(tf.zeros([1, 3]), built.params as Params)).map(([k, v]) => [k, v.shape[1]])));
  const constants = cell.begin ? tf.tidy(() => Object.fromEntries(Object.entries(cell.begin!({ training: true, batch: B, steps: 4 }, built.params as Params)).map(([k, v]) => [k, v.shape]))) : {};
  const forward = trace.traceStep(cell, { batch: B, inputs: widths, params, constants }, true, 4);
  built.dispose();
  return { forward, adjoint: trace.differentiate(forward) };
}

describe('which steps run as blocks of batch rows (split.ts)', () => {
  it.each([
    ['LSTM', LSTM, { units: 4 }],
    ['GRU', GRU, { units: 4 }],
    ['RowMasked', Masked, {}],
  ] as const)('%s keeps rows apart: a block of 2 of 6 rows, and of 3 of 7', (_, plugin, options) => {
    const p = plugin as unknown as CellPlugin<never>;
    expect(rowBlockReason(traced(p, options, 6), traced(p, options, 2), 6, 2)).toBeUndefined();
    expect(rowBlockReason(traced(p, options, 7), traced(p, options, 3), 7, 3)).toBeUndefined();
  });

  it.each([
    ['sum', /a per-row value reads a sum over batch rows/],
    ['gram', /\[3,3\] is not scaled along its first dim by the batch/],
  ] as const)('a step that mixes rows (%s) is named with the op', (kind, reason) => {
    const p = Mixing as unknown as CellPlugin<never>;
    expect(rowBlockReason(traced(p, { kind }, 6), traced(p, { kind }, 3), 6, 3)).toMatch(reason);
  });

  it('programs of different ops are not blocks of one another', () => {
    const sum = traced(Mixing as unknown as CellPlugin<never>, { kind: 'sum' }, 6);
    const gram = traced(Mixing as unknown as CellPlugin<never>, { kind: 'gram' }, 3);
    expect(rowBlockReason(sum, gram, 6, 3)).toBe('the step records other ops at another batch size');
  });
});

describe.skipIf(!nativeKernels().available)('blocks of batch rows on the addon', () => {
  /** Value and gradients of a loss over outputs and final state, on the traced kernel. */
  const run = (plugin: CellPlugin<never>, options: Record<string, unknown>, B: number, blocks: boolean) => {
    const built = buildCell(plugin, options, { inputSize: 3, seed: 4 });
    const x = randomTensor([B, 9, 3], 5) as tf.Tensor3D;
    configure({ native: true, threads: blocks ? 2 : 1, rowBlocks: blocks });
    setKernelPreference('traced');
    const before = pooled();
    const values = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => {
        const s = runSequence(built.cell, built.params as Params, x, { training: true, returnSequences: true });
        expect(s.path).toBe('traced');
        const last = Object.values(s.state).map((v) => tf.sum(tf.mul(v, v)));
        return tf.addN([tf.sum(tf.mul(s.output, randomTensor(s.output.shape, 6))), ...last]) as tf.Scalar;
      }, Object.values(built.params));
      return [value, ...Object.values(grads)].map((t) => t.dataSync() as Float32Array);
    });
    const calls = pooled() - before;
    x.dispose();
    built.dispose();
    return { values, calls };
  };
  const relative = (a: Float32Array, b: Float32Array) => {
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < a.length; i++) {
      diff = Math.max(diff, Math.abs(a[i] - b[i]));
      scale = Math.max(scale, Math.abs(b[i]));
    }
    return diff / scale;
  };

  it.each([
    ['LSTM', 8, LSTM, { units: 6 }],
    ['GRU', 5, GRU, { units: 6 }],
    // 5 units at B 5: the per-sequence constant [5] is not a row constant.
    ['RowMasked', 5, Masked, {}],
  ] as const)('%s at B %d: two blocks side by side (one pool job each way) equal one program over the batch', (_, B, plugin, options) => {
    const p = plugin as unknown as CellPlugin<never>;
    const one = run(p, options, B, false);
    const two = run(p, options, B, true);
    // Products this small never split: the pool runs only the blocks, once forward and once backward.
    expect(one.calls).toBe(0);
    expect(two.calls).toBe(2);
    // Parameter gradients are sums over rows in another order: equal to float rounding.
    two.values.forEach((v, i) => expect(relative(v, one.values[i])).toBeLessThan(1e-5));
  });

  it('row and per-sequence begin constants, and their gradients, equal the generic loop', () => {
    configure({ native: true, threads: 2, rowBlocks: true });
    const built = buildCell(Masked, {}, { inputSize: 3, seed: 8 });
    const before = pooled();
    const r = compareFused(built, { batch: 5, time: 7, inputSize: 3, kernel: 'traced', training: true });
    expect(pooled() - before).toBe(2);
    expect(r.path).toBe('traced');
    for (const [k, e] of Object.entries(r.errors)) expect(e, k).toBeLessThan(1e-4);
    built.dispose();
  });

  it.each(['sum', 'gram'] as const)('a step that mixes rows (%s) runs as one program and equals the generic loop', (kind) => {
    configure({ native: true, threads: 2, rowBlocks: true });
    const built = buildCell(Mixing, { kind }, { inputSize: 3, seed: 9 });
    const before = pooled();
    const r = compareFused(built, { batch: 6, time: 5, inputSize: 3, kernel: 'traced', training: true });
    expect(pooled() - before).toBe(0);
    expect(r.path).toBe('traced');
    for (const [k, e] of Object.entries(r.errors)) expect(e, k).toBeLessThan(1e-4);
    built.dispose();
  });
});
