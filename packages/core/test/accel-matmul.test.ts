import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { randomTensor } from '@cellstack/core/testing';

/** C = op(A)·op(B) over broadcast batch dims, in float64 from the operands' values. */
function reference(a: tf.Tensor, b: tf.Tensor, ta: boolean, tb: boolean): { shape: number[]; values: number[] } {
  const [av, bv] = [a.dataSync(), b.dataSync()];
  const [ra, rb] = [a.rank, b.rank];
  const [M, K] = ta ? [a.shape[ra - 1], a.shape[ra - 2]] : [a.shape[ra - 2], a.shape[ra - 1]];
  const N = tb ? b.shape[rb - 2] : b.shape[rb - 1];
  const [batchA, batchB] = [a.size / (M * K), b.size / (K * N)];
  const batch = Math.max(batchA, batchB);
  const values: number[] = [];
  for (let p = 0; p < batch; p++) {
    const [oa, ob] = [batchA === 1 ? 0 : p * M * K, batchB === 1 ? 0 : p * K * N];
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += av[oa + (ta ? k * M + i : i * K + k)] * bv[ob + (tb ? j * K + k : k * N + j)];
        values.push(s);
      }
  }
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  return { shape: [...outer, M, N], values };
}

function expectClose(actual: tf.Tensor, expected: { shape: number[]; values: number[] }): void {
  expect(actual.shape).toEqual(expected.shape);
  const got = actual.dataSync();
  expected.values.forEach((v, i) => expect(Math.abs(got[i] - v)).toBeLessThan(1e-5 * (1 + Math.abs(v))));
}

/** Runs f and checks it leaves exactly `results` new tensors and data buffers (no temporaries). */
function counted<T extends tf.Tensor>(f: () => T, results = 1): T {
  const [tensors, buffers] = [tf.memory().numTensors, tf.engine().backend.numDataIds()];
  const out = f();
  expect(tf.memory().numTensors).toBe(tensors + results);
  expect(tf.engine().backend.numDataIds()).toBe(buffers + results);
  return out;
}

// vitest.setup selects the backend through selectBackend, which patches wasm's matmuls.
describe.runIf(tf.getBackend() === 'wasm')('wasm BatchMatMul and _FusedMatMul (patched onto the heap)', () => {
  it.each([
    [[5, 7], [7, 6], false, false],
    [[5, 7], [6, 7], false, true],
    [[7, 5], [7, 6], true, false],
    [[7, 5], [6, 7], true, true],
    [[3, 4, 5], [3, 6, 5], false, true],
    [[3, 5, 4], [3, 5, 6], true, false],
    [[1, 1], [1, 1], false, false],
    [[9, 33], [33, 19], false, false], // every register block: 4×8, 4×4 and scalar columns, row tail
    [[2, 3, 4, 5], [2, 3, 5, 6], false, false],
  ] as const)('%j · %j (transposeA %s, transposeB %s) equals the float64 product', (sa, sb, ta, tb) => {
    const [a, b] = [randomTensor([...sa], 1), randomTensor([...sb], 2)];
    const c = counted(() => tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D, ta, tb));
    expectClose(c, reference(a, b, ta, tb));
    tf.dispose([a, b, c]);
  });

  it.each([
    [[4, 3, 5], [5, 6]],
    [[3, 5], [4, 5, 6]],
    [[1, 3, 5], [4, 5, 6]],
  ] as const)('broadcasts a batch of one: %j · %j', (sa, sb) => {
    const [a, b] = [randomTensor([...sa], 3), randomTensor([...sb], 4)];
    const c = counted(() => tf.matMul(a, b));
    expectClose(c, reference(a.rank === 2 ? tf.expandDims(a, 0) : a, b.rank === 2 ? tf.expandDims(b, 0) : b, false, false));
    tf.dispose([a, b, c]);
  });

  it('adds a bias and applies ReLU in the fused op, with gradients equal to the unfused ops', () => {
    const [a, b, bias] = [randomTensor([6, 5], 5), randomTensor([5, 7], 6), randomTensor([7], 7)];
    const fused = counted(() => tf.fused.matMul({ a, b, bias, activation: 'relu' }));
    const plain = reference(a, b, false, false);
    const bv = bias.dataSync();
    expectClose(fused, { shape: plain.shape, values: plain.values.map((v, i) => Math.max(0, v + bv[i % 7])) });
    const linear = tf.fused.matMul({ a, b, bias, transposeB: false });
    expectClose(linear, { shape: plain.shape, values: plain.values.map((v, i) => v + bv[i % 7]) });
    const viaFused = tf.grads((x, y, z) => tf.sum(tf.fused.matMul({ a: x as tf.Tensor2D, b: y as tf.Tensor2D, bias: z, activation: 'relu' })));
    const viaOps = tf.grads((x, y, z) => tf.sum(tf.relu(tf.add(tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D), z))));
    const [g1, g2] = [viaFused([a, b, bias]), viaOps([a, b, bias])];
    g1.forEach((g, i) => expectClose(g, { shape: g2[i].shape, values: Array.from(g2[i].dataSync()) }));
    tf.dispose([a, b, bias, fused, linear, ...g1, ...g2]);
  });

  it('leaves other activations and PReLU to the original kernel', () => {
    const [a, b] = [randomTensor([4, 3], 8), randomTensor([3, 5], 9)];
    const plain = reference(a, b, false, false);
    const elu = tf.fused.matMul({ a, b, activation: 'elu' });
    expectClose(elu, { ...plain, values: plain.values.map((v) => (v > 0 ? v : Math.expm1(v))) });
    const alpha = tf.fill([5], 0.25);
    const prelu = tf.fused.matMul({ a, b, activation: 'prelu', preluActivationWeights: alpha });
    expectClose(prelu, { ...plain, values: plain.values.map((v) => (v > 0 ? v : 0.25 * v)) });
    tf.dispose([a, b, elu, alpha, prelu]);
  });

  it('returns zeros for K = 0, an empty tensor for M = 0, and keeps shape errors', () => {
    const zeroK = tf.matMul(tf.zeros([3, 0]), tf.zeros([0, 4]));
    expect(zeroK.shape).toEqual([3, 4]);
    expect(Array.from(zeroK.dataSync())).toEqual(new Array(12).fill(0));
    const empty = tf.matMul(tf.zeros([0, 5]), tf.ones([5, 2]));
    expect(empty.shape).toEqual([0, 2]);
    expect(() => tf.matMul(tf.ones([2, 3]), tf.ones([4, 2]))).toThrow(/inner shapes/);
    tf.dispose([zeroK, empty]);
  });

  it('leaks nothing over repeated dense-layer gradients', () => {
    const [x, w, bias] = [randomTensor([32, 12], 11), tf.variable(randomTensor([12, 10], 12)), tf.variable(randomTensor([10], 13))];
    const step = () => tf.tidy(() => tf.variableGrads(() => tf.mean(tf.square(tf.fused.matMul({ a: x, b: w, bias, activation: 'relu' }))) as tf.Scalar).value.dispose());
    step();
    const [tensors, buffers] = [tf.memory().numTensors, tf.engine().backend.numDataIds()];
    for (let i = 0; i < 5; i++) step();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.engine().backend.numDataIds()).toBe(buffers);
    tf.dispose([x, w, bias]);
  });
});
