import { describe, expect, it } from 'vitest';
import { buildCell, comparePadded, paddedPaths, paddedProblems } from '@cellstack/core/testing';
import { DMU } from '../src/index.js';

describe.each([{}, { layers: [4, 3] }])('DMU %j on a padded batch', (options) => {
  it.each(paddedPaths)('$path: real steps, final states and gradients equal each sequence run alone', ({ useFused, left }) => {
    const built = buildCell(DMU, { units: 5, ...options }, { inputSize: 3, seed: 4 });
    const r = comparePadded(built, { lengths: [5, 2, 4, 1, 5, 0], inputSize: 3, left, useFused });
    expect(paddedProblems(r, { useFused, tol: 1e-4 })).toEqual([]);
    built.dispose();
  });
});
