import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { randomTensor } from '@cellstack/core/testing';

// vitest.setup selects the backend through selectBackend, which patches wasm's Slice.
describe.runIf(tf.getBackend() === 'wasm')('wasm Slice (patched to copy only the slice)', () => {
  // The reference: the same block gathered element by element from the input's values.
  const reference = (values: ArrayLike<number>, shape: number[], begin: number[], size: number[]) => {
    const strides = tf.util.computeStrides(shape);
    const out: number[] = [];
    const walk = (d: number, off: number) => {
      if (d === shape.length) return void out.push(values[off]);
      for (let i = 0; i < size[d]; i++) walk(d + 1, off + (begin[d] + i) * (d < shape.length - 1 ? strides[d] : 1));
    };
    walk(0, 0);
    return out;
  };

  it.each([
    [[7], [2], [4]],
    [[4, 6], [1, 2], [2, 3]],
    [[4, 6], [0, 0], [4, 6]],
    [[3, 5, 4], [0, 4, 0], [3, 1, 4]],
    [[3, 5, 4], [1, 1, 1], [2, 3, 2]],
    [[2, 3, 4, 5], [1, 0, 2, 1], [1, 3, 2, 3]],
    [[2, 3, 2, 2, 3], [0, 1, 0, 1, 1], [2, 2, 2, 1, 2]],
    // Whole trailing axes merge into one run: a batch slice, and whole rows under a partial axis.
    [[5, 3, 4], [1, 0, 0], [3, 3, 4]],
    [[2, 4, 3, 5], [1, 1, 0, 0], [1, 2, 3, 5]],
    [[3, 4, 2], [0, 1, 0], [3, 2, 2]],
  ])('shape %j, begin %j, size %j: the block, no extra tensors', (shape, begin, size) => {
    const x = randomTensor(shape, 3);
    const values = x.dataSync();
    const before = tf.engine().backend.numDataIds();
    const y = tf.slice(x, begin, size);
    expect(tf.engine().backend.numDataIds()).toBe(before + 1);
    expect(y.shape).toEqual(size);
    expect(Array.from(y.dataSync())).toEqual(reference(values, shape, begin, size));
    tf.dispose([x, y]);
  });

  it('slices int32 and bool tensors, empty sizes and -1 sizes, and strings through the original kernel', () => {
    const i = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3], 'int32');
    expect(tf.slice(i, [0, 1], [2, -1]).arraySync()).toEqual([[2, 3], [5, 6]]);
    expect(tf.slice(i, [1, 0], [1, 0]).shape).toEqual([1, 0]);
    const b = tf.tensor1d([true, false, true], 'bool');
    expect(tf.slice(b, 1, 2).arraySync()).toEqual([0, 1]);
    const s = tf.tensor1d(['a', 'b', 'c'], 'string');
    expect(tf.slice(s, 1, 2).arraySync()).toEqual(['b', 'c']);
  });

  it('gives the gradient of a slice (through tf.split) unchanged', () => {
    const x = randomTensor([4, 3, 2], 5);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.split(t, [1, 3], 0)[1], tf.split(t, [1, 3], 0)[1])))(x);
    const expected = (x.arraySync() as number[][][]).map((m, r) => m.map((row) => row.map((v) => (r === 0 ? 0 : 2 * v))));
    const got = g.arraySync() as number[][][];
    got.forEach((m, r) => m.forEach((row, c) => row.forEach((v, k) => expect(v).toBeCloseTo(expected[r][c][k], 5))));
    tf.dispose([x, g]);
  });
});
