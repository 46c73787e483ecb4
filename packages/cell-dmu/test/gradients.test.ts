import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { buildCell, forward, gradCheck, randomArray3 } from '@cellstack/core/testing';
import { DMU } from '../src/index.js';

describe('DMU gradients', () => {
  const cases = [
    { layers: [4, 3], activation: 'tanh', seed: 4 },
    { layers: [4], activation: 'leakyRelu', seed: 6 },
    { layers: [], activation: 'leakyRelu', seed: 8 },
  ] as const;
  for (const { layers, activation, seed } of cases) {
    it(`match finite differences (layers [${layers}], ${activation})`, () => {
      // zBias 1 keeps σ(z) away from saturation so every parameter gets a visible gradient.
      const cell = buildCell(DMU, { units: 3, layers: [...layers], activation, zBias: 1 }, { inputSize: 2, seed });
      const x = tf.variable(tf.tensor3d(randomArray3(2, 4, 2, seed + 1)));
      const loss = () => tf.tidy(() => tf.sum(tf.square(forward(cell, x))) as tf.Scalar);
      const r = gradCheck(loss, { ...cell.params, x });
      expect(r.checked).toBeGreaterThan(20);
      expect(r.maxRelError, r.worst).toBeLessThan(2e-2);
      cell.dispose();
      x.dispose();
    });
  }
});
