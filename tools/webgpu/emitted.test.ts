/**
 * The WGSL programs emitted from each cell's traced step IR (gpu/traced-gpu.ts) against the
 * generic step loop, both on webgpu: outputs, final states and every gradient on tiny shapes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { cellPath, setKernelPreference } from '@cellstack/core';
import { ALL_CELLS, cellResults, sizeOption, useBackend, worstRatio } from './helpers.js';

describe('emitted WGSL kernels equal the generic step loop on webgpu', () => {
  afterAll(async () => {
    setKernelPreference('hand-written');
    await useBackend('webgpu');
  });
  for (const plugin of ALL_CELLS) {
    it(`${plugin.name}: runs traced (webgpu); outputs, states and every gradient within 5e-6 + 1e-5·|generic|`, async () => {
      const generic = await cellResults('webgpu', plugin);
      setKernelPreference('traced');
      await useBackend('webgpu', { kernels: true });
      expect(cellPath(plugin, { [sizeOption(plugin)]: 4 }, { inputSize: 3 })).toBe('traced (webgpu)');
      const before = tf.memory().numTensors;
      const kernel = await cellResults('webgpu', plugin, { kernels: true });
      expect(tf.memory().numTensors).toBe(before);
      expect(Object.keys(kernel).sort()).toEqual(Object.keys(generic).sort());
      const { ratio, where } = worstRatio(kernel, generic, 5e-6, 1e-5);
      expect(ratio, where).toBeLessThanOrEqual(1);
    });
  }
});
