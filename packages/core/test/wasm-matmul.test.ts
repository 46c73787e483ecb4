import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { randomTensor } from '@cellstack/core/testing';

// vitest.setup selects the backend through selectBackend, which patches wasm's BatchMatMul.
describe.runIf(tf.getBackend() === 'wasm')('wasm BatchMatMul with transpose flags (patched)', () => {
  it.each([
    [[5, 7], [6, 7], false, true],
    [[7, 5], [7, 6], true, false],
    [[7, 5], [6, 7], true, true],
    [[3, 4, 5], [3, 6, 5], false, true],
    [[3, 5, 4], [3, 5, 6], true, false],
  ] as const)('%j · %j (transposeA %s, transposeB %s) equals the product of explicit transposes', (sa, sb, ta, tb) => {
    const a = randomTensor([...sa], 1);
    const b = randomTensor([...sb], 2);
    const swap = (t: tf.Tensor) => tf.transpose(t, t.rank === 2 ? [1, 0] : [0, 2, 1]);
    const before = tf.memory().numTensors;
    const bytes = tf.engine().backend.numDataIds();
    const flagged = tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D, ta, tb);
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(tf.engine().backend.numDataIds()).toBe(bytes + 1);
    const explicit = tf.matMul((ta ? swap(a) : a) as tf.Tensor3D, (tb ? swap(b) : b) as tf.Tensor3D);
    expect(flagged.shape).toEqual(explicit.shape);
    expect(Array.from(flagged.dataSync())).toEqual(Array.from(explicit.dataSync()));
    tf.dispose([a, b, flagged, explicit]);
  });
});
