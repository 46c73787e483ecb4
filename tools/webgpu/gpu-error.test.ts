/** A failed GPU program fails the next read with Dawn's message instead of returning garbage. (Own file: the error is sticky.) */
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';

it('an invalid shader makes the next tensor read throw, naming the GPU error', async () => {
  expect(tf.getBackend()).toBe('webgpu');
  const t = tf.add(tf.ones([8]), 1);
  expect(Array.from(await t.data())).toEqual(new Array(8).fill(2));
  const device = (tf.backend() as unknown as { device: { createShaderModule(d: { code: string }): unknown } }).device;
  device.createShaderModule({ code: 'this is not WGSL' });
  const u = tf.add(t, 1);
  await expect(u.data()).rejects.toThrow(/^webgpu: a GPU program failed: /);
  tf.dispose([t, u]);
});
