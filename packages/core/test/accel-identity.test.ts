import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { randomTensor } from '@cellstack/core/testing';

// vitest.setup selects the backend through selectBackend, which patches wasm's Identity.
describe.runIf(tf.getBackend() === 'wasm')('wasm Identity (patched to share the buffer)', () => {
  it('a clone has the same values and adds a tensor but no buffer', () => {
    const x = randomTensor([3, 4], 1);
    const buffers = tf.engine().backend.numDataIds();
    const y = tf.clone(x);
    expect(tf.engine().backend.numDataIds()).toBe(buffers);
    expect(y.shape).toEqual([3, 4]);
    expect(Array.from(y.dataSync())).toEqual(Array.from(x.dataSync()));
    tf.dispose([x, y]);
  });

  it('the buffer lives until the last tensor sharing it is disposed, in either order', () => {
    for (const firstOut of ['x', 'y'] as const) {
      const buffers = tf.engine().backend.numDataIds();
      const x = tf.tensor([1.5, -2, 3], [3], 'float32');
      const y = tf.clone(x);
      const [gone, kept] = firstOut === 'x' ? [x, y] : [y, x];
      gone.dispose();
      expect(tf.engine().backend.numDataIds()).toBe(buffers + 1);
      expect(Array.from(kept.dataSync())).toEqual([1.5, -2, 3]);
      kept.dispose();
      expect(tf.engine().backend.numDataIds()).toBe(buffers);
    }
  });

  it('keeps int32 and bool dtypes, and string tensors still work through the original kernel', () => {
    const i = tf.tensor([1, 2, 3], [3], 'int32');
    const b = tf.tensor([1, 0], [2], 'bool');
    const s = tf.tensor(['a', 'bc']);
    const [ci, cb, cs] = [tf.clone(i), tf.clone(b), tf.clone(s)];
    expect([ci.dtype, cb.dtype, cs.dtype]).toEqual(['int32', 'bool', 'string']);
    expect(Array.from(ci.dataSync())).toEqual([1, 2, 3]);
    expect(Array.from(cb.dataSync())).toEqual([1, 0]);
    expect(cs.dataSync()).toEqual(['a', 'bc']);
    tf.dispose([i, b, s, ci, cb, cs]);
  });

  it('a variable assigned from a clone keeps its value when the source is disposed', () => {
    const x = tf.tensor([4, 5], [2]);
    const v = tf.variable(tf.zeros([2]));
    const c = tf.clone(x);
    v.assign(c);
    tf.dispose([x, c]);
    expect(Array.from(v.dataSync())).toEqual([4, 5]);
    v.dispose();
  });

  it('gradients that save inputs leak no buffers over repeated steps', () => {
    const w = tf.variable(randomTensor([5, 5], 2));
    const x = randomTensor([4, 5], 3);
    const step = () => tf.tidy(() => tf.variableGrads(() => tf.sum(tf.square(tf.tanh(tf.matMul(x, w))))).value.dispose());
    step();
    const [tensors, buffers] = [tf.memory().numTensors, tf.engine().backend.numDataIds()];
    for (let k = 0; k < 5; k++) step();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.engine().backend.numDataIds()).toBe(buffers);
    tf.dispose([w, x]);
  });
});
