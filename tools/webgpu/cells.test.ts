/**
 * Every cell on webgpu through the generic step loop, against the cpu backend running the
 * same loop: outputs, final states and the gradients of every input, parameter and initial
 * state, on tiny shapes (lavapipe on CI's 2 cores is slow). Float32 on both; the worst
 * difference measured on lavapipe was 7.5e-7 (NRU), the tolerance 5e-6 + 1e-5·|cpu|.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { ALL_CELLS, cellResults, useBackend, worstRatio } from './helpers.js';

describe('every cell on webgpu equals the cpu backend (generic step loop)', () => {
  afterAll(() => useBackend('webgpu'));
  for (const plugin of ALL_CELLS) {
    it(`${plugin.name}: outputs, states and every gradient within 5e-6 + 1e-5·|cpu|`, async () => {
      const cpu = await cellResults('cpu', plugin);
      const before = tf.memory().numTensors;
      const gpu = await cellResults('webgpu', plugin);
      expect(tf.memory().numTensors).toBe(before);
      expect(Object.keys(gpu).sort()).toEqual(Object.keys(cpu).sort());
      expect(Object.keys(cpu).filter((k) => k.startsWith('grad.')).length).toBeGreaterThan(2);
      const { ratio, where } = worstRatio(gpu, cpu, 5e-6, 1e-5);
      expect(ratio, where).toBeLessThanOrEqual(1);
    });
  }
});
