import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { buildCell, comparePadded, paddedPaths, paddedProblems, randomTensor } from '@cellstack/core/testing';
import { RRU } from '../src/index.js';

describe.each([{}, { outputSize: 3, reluLayers: 2 }])('RRU %j on a padded batch', (options) => {
  it.each(paddedPaths)('$path: real steps, final states and gradients equal each sequence run alone', ({ useFused, pad }) => {
    const built = buildCell(RRU, { units: 5, ...options }, { inputSize: 3, seed: 4 });
    // Z = 0 (its init) would hide every path through the candidate.
    built.params.Z.assign(tf.tidy(() => randomTensor(built.params.Z.shape, 9, -0.8, 0.8)));
    const r = comparePadded(built, { lengths: [5, 2, 4, 1, 5, 0], inputSize: 3, pad, useFused });
    expect(paddedProblems(r, { useFused, tol: 1e-4 })).toEqual([]);
    built.dispose();
  });
});
