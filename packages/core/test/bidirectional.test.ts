import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { CellLayer, createRuntime, runSequence, type Params } from '@cellstack/core';
import { gradCheck, randomTensor, saveAndLoad } from '@cellstack/core/testing';

const rt = await createRuntime({ backend: (process.env.CELLSTACK_TEST_BACKEND as 'wasm') ?? 'wasm' });
const lengths = [4, 2, 3];
const [T, F, H] = [4, 2, 3];
// Padding is exact zeros (what `masking(value: 0)` detects); real values are never 0.
const x = tf.tidy(() => {
  const m = tf.tensor3d(lengths.map((n) => Array.from({ length: T }, (_, t) => [t < n ? 1 : 0])));
  return tf.mul(randomTensor([lengths.length, T, F], 3, 0.1, 1), m) as tf.Tensor3D;
});
afterAll(() => x.dispose());

const model = (merge: string, extra: object[] = []) =>
  rt.build({ input: { shape: [T, F] }, layers: [{ type: 'masking' }, { cell: 'GRU', options: { units: H }, bidirectional: { merge } }, ...extra], seed: 11 });

/** One sequence's real steps, run forward, and reversed by hand through the backward parameters. */
function byHand(layer: CellLayer, b: number): { fwd: tf.Tensor2D; bwd: tf.Tensor2D } {
  const n = lengths[b];
  const xb = tf.slice(x, [b, 0, 0], [1, n, F]) as tf.Tensor3D;
  const run = (params: Params, xs: tf.Tensor3D) => tf.reshape(runSequence(layer.cell!, params, xs, { training: false, returnSequences: true }).output, [n, H]) as tf.Tensor2D;
  const reversed = tf.tensor3d([[...(xb.arraySync()[0] as number[][])].reverse()]);
  return { fwd: run(layer.params(), xb), bwd: tf.reverse(run(layer.params('backward'), reversed), 0) as tf.Tensor2D };
}

describe('bidirectional GRU over a masked batch', () => {
  it.each([
    ['concat', (f: tf.Tensor, b: tf.Tensor) => tf.concat([f, b], -1)],
    ['sum', (f: tf.Tensor, b: tf.Tensor) => tf.add(f, b)],
    ['mean', (f: tf.Tensor, b: tf.Tensor) => tf.div(tf.add(f, b), 2)],
    ['mul', (f: tf.Tensor, b: tf.Tensor) => tf.mul(f, b)],
  ])('%s: equals the forward run and a hand-reversed copy, merged, at every real step', (merge, combine) => {
    const m = model(merge as string);
    const layer = m.layers.find((l) => l instanceof CellLayer) as CellLayer;
    const out = m.predict(x) as tf.Tensor3D;
    expect(out.shape).toEqual([3, T, merge === 'concat' ? 2 * H : H]);
    lengths.forEach((n, b) => {
      const want = tf.tidy(() => {
        const { fwd, bwd } = byHand(layer, b);
        return combine(fwd, bwd).arraySync() as number[][];
      });
      const got = tf.tidy(() => tf.reshape(tf.slice(out, [b, 0, 0], [1, n, -1]), [n, -1]).arraySync() as number[][]);
      got.flat().forEach((v, i) => expect(v).toBeCloseTo(want.flat()[i], 5));
    });
    out.dispose();
    m.dispose();
  });

  it('`last` reads the forward direction at the last real step and the backward at the first', () => {
    const m = model('concat', [{ type: 'last' }]);
    const layer = m.layers.find((l) => l instanceof CellLayer) as CellLayer;
    const out = (m.predict(x) as tf.Tensor2D).arraySync();
    lengths.forEach((n, b) => {
      const { fwd, bwd } = byHand(layer, b);
      const want = [...(fwd.arraySync()[n - 1] as number[]), ...(bwd.arraySync()[0] as number[])];
      out[b].forEach((v, i) => expect(v).toBeCloseTo(want[i], 5));
      tf.dispose([fwd, bwd]);
    });
    m.dispose();
  });

  it('gradients of a masked bidirectional layer, then masked mean pooling, match finite differences', () => {
    const m = model('mul', [{ type: 'mean' }, { type: 'dense', units: 2 }]);
    const vars: Record<string, tf.Variable> = {};
    for (const w of m.trainableWeights) vars[w.name] = (w as unknown as { val: tf.Variable }).val;
    const backward = Object.keys(vars).filter((k) => k.includes('backward_'));
    expect(backward.length).toBeGreaterThan(0);
    expect(Object.keys(vars).length).toBe(2 * backward.length + 2);
    const target = randomTensor([3, 2], 9);
    const r = gradCheck(() => tf.sum(tf.mul(m.apply(x) as tf.Tensor, target)) as tf.Scalar, vars, { eps: 1e-2, perVariable: 6 });
    expect(r.maxRelError, r.worst).toBeLessThan(2e-2);
    expect(r.checked).toBeGreaterThan(30);
    target.dispose();
    m.dispose();
  });

  it('a padded batch through masking → bidirectional → last equals each sequence alone, unpadded', () => {
    const layers = [{ type: 'masking', value: -9 }, { cell: 'GRU', options: { units: H }, bidirectional: {} }, { type: 'last' }];
    const m = rt.build({ input: { shape: [null, F] }, layers, seed: 2 });
    const padded = tf.tidy(() => tf.where(tf.equal(x, 0), tf.fill(x.shape, -9), x));
    const out = (m.predict(padded) as tf.Tensor2D).arraySync();
    lengths.forEach((n, b) => {
      const alone = tf.tidy(() => (m.predict(tf.slice(x, [b, 0, 0], [1, n, F])) as tf.Tensor2D).arraySync()[0]);
      alone.forEach((v, i) => expect(out[b][i]).toBeCloseTo(v, 5));
    });
    // Without the mask the padded steps move the result.
    const plain = rt.build({ input: { shape: [null, F] }, layers: layers.slice(1), seed: 2 });
    plain.setWeights(m.getWeights());
    const unmasked = (plain.predict(padded) as tf.Tensor2D).arraySync();
    expect(Math.max(...unmasked[1].map((v, i) => Math.abs(v - out[1][i])))).toBeGreaterThan(1e-3);
    padded.dispose();
    m.dispose();
    plain.dispose();
  });

  it('save → load keeps the mask and both directions: identical outputs', async () => {
    const m = model('sum', [{ type: 'last' }]);
    const loaded = await saveAndLoad(m);
    const a = m.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    const layer = loaded.layers.find((l) => l instanceof CellLayer) as CellLayer;
    expect(layer.merge).toBe('sum');
    expect(loaded.layers.map((l) => l.getClassName())).toContain('Masking');
    tf.dispose([a, b]);
    m.dispose();
    loaded.dispose();
  });

  it('stacked bidirectional layers train on a masked batch without leaking tensors', async () => {
    const m = rt.build({ input: { shape: [T, F] }, layers: [{ type: 'masking' }, { cell: 'GRU', options: { units: H }, repeat: 2, bidirectional: {} }, { type: 'last' }, { type: 'dense', units: 1 }], seed: 5 });
    m.compile({ optimizer: tf.train.adam(0.01), loss: 'meanSquaredError' });
    const y = tf.ones([3, 1]);
    const first = (await m.trainOnBatch(x, y)) as number;
    const before = tf.memory().numTensors;
    let last = first;
    for (let i = 0; i < 20; i++) last = (await m.trainOnBatch(x, y)) as number;
    expect(tf.memory().numTensors).toBe(before);
    expect(last).toBeLessThan(first);
    y.dispose();
    m.dispose();
  });
});

describe('pooling a masked sequence after other layers', () => {
  it('`last` takes each sequence\'s last real step and `mean` averages real steps only', () => {
    const body = [{ type: 'masking' }, { cell: 'GRU', options: { units: H } }, { type: 'dense', units: 2 }];
    const steps = rt.build({ input: { shape: [T, F] }, layers: body, seed: 4 });
    const perStep = (steps.predict(x) as tf.Tensor3D).arraySync();
    for (const pool of ['last', 'mean']) {
      const m = rt.build({ input: { shape: [T, F] }, layers: [...body, { type: pool }], seed: 4 });
      m.setWeights(steps.getWeights());
      const out = (m.predict(x) as tf.Tensor2D).arraySync();
      lengths.forEach((n, b) => {
        const real = perStep[b].slice(0, n);
        const want = pool === 'last' ? real[n - 1] : real[0].map((_, j) => real.reduce((a, r) => a + r[j], 0) / n);
        out[b].forEach((v, j) => expect(v).toBeCloseTo(want[j], 5));
      });
      m.dispose();
    }
    steps.dispose();
  });
});

describe('bad input', () => {
  it('rejects a stateful bidirectional layer, naming where', () => {
    expect(() => rt.build({ input: { shape: [T, F] }, layers: [{ cell: 'GRU', options: { units: 2 }, stateful: true, bidirectional: {} }] })).toThrow(/layers\[0\]\.stateful: a bidirectional layer cannot be stateful/);
  });
  it('rejects an unknown merge mode, listing the allowed ones', () => {
    expect(() => rt.build({ input: { shape: [T, F] }, layers: [{ cell: 'GRU', bidirectional: { merge: 'max' } }] })).toThrow(/layers\[0\]\.bidirectional\.merge.*concat.*sum.*mean.*mul/);
  });
  it('rejects masking after pooling', () => {
    expect(() => rt.build({ input: { shape: [T, F] }, layers: [{ cell: 'GRU' }, { type: 'last' }, { type: 'masking' }] })).toThrow(/layers\[2\]: 'masking' marks padded time steps/);
  });
});
