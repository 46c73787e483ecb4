import { describe, expect, it } from 'vitest';
import { buildCell, comparePadded, paddedPaths, paddedProblems } from '@cellstack/core/testing';
import { STAR } from '../src/index.js';

describe.each(['paper', 'official'] as const)('STAR %s on a padded batch', (variant) => {
  it.each(paddedPaths)('$path: real steps, final states and gradients equal each sequence run alone', ({ useFused, pad }) => {
    const built = buildCell(STAR, { units: 5, variant, tmax: 10 }, { inputSize: 3, seed: 4 });
    const r = comparePadded(built, { lengths: [5, 2, 4, 1, 5, 0], inputSize: 3, pad, useFused });
    expect(paddedProblems(r, { useFused })).toEqual([]);
    built.dispose();
  });
});
