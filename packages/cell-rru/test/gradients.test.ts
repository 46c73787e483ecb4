import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { buildCell, forward, gradCheck, randomArray3, randomTensor } from '@cellstack/core/testing';
import { RRU } from '../src/index.js';
import { asValues, kinkMargin, randomWeights } from './reference.js';

// Central differences are only valid away from ReLU kinks, so the check uses non-zero
// ("trained") biases and Z (Z = 0 would also hide every gradient through the candidate),
// asserts that no ReLU input lies near 0, and steps by eps = 1e-3.
const sizes = { m: 2, n: 3, g: 5, p: 2 };

describe('RRU gradients', () => {
  const cases = [
    { normalize: 'rms', reluLayers: 1, singleZ: false, sScale: 10 },
    { normalize: 'rms', reluLayers: 2, singleZ: true, sScale: 10 },
    { normalize: 'l2', reluLayers: 1, singleZ: false, sScale: 1 },
    { normalize: 'none', reluLayers: 3, singleZ: false, sScale: 10 },
  ] as const;
  for (const c of cases) {
    it(`match finite differences (dropout off): normalize ${c.normalize}, reluLayers ${c.reluLayers}, singleZ ${c.singleZ}`, () => {
      const xs = randomArray3(2, 4, 2, 5);
      const h0 = [[Math.sqrt(3) / 4, 0, 0], [Math.sqrt(3) / 4, 0, 0]];
      // the first weight seed from 40 whose every ReLU input is at least 5·eps = 0.005 from 0
      let seed = 40;
      while (kinkMargin(randomWeights(sizes, c.reluLayers, c.singleZ, seed), xs, h0, c.normalize, c.sScale) < 0.005) seed++;
      expect(seed).toBeLessThan(100);
      const w = randomWeights(sizes, c.reluLayers, c.singleZ, seed);
      const cell = buildCell(RRU, { units: 3, outputSize: 2, q: 1, dropout: 0, ...c }, { inputSize: 2, values: asValues(w) });
      const x = tf.variable(tf.tensor3d(xs));
      const R = randomTensor([2, 4, 2], 99);
      const loss = () => tf.tidy(() => tf.sum(tf.mul(forward(cell, x), R)) as tf.Scalar);
      const r = gradCheck(loss, { ...cell.params, x }, { eps: 1e-3 });
      expect(r.maxRelError, r.worst).toBeLessThan(2e-2);
      expect(r.checked).toBeGreaterThan(40);
      cell.dispose();
      x.dispose();
    });
  }
});
