import { describe, expect, it } from 'vitest';
import { buildCell, comparePadded, paddedPaths, paddedProblems } from '@cellstack/core/testing';
import { NRU } from '../src/index.js';

const variants = [
  ['defaults', {}],
  ['every alternative', { headReduce: 'sum', headInputs: 'xhm', outerProduct: 'perHead', useRelu: true, layerNorm: true }],
] as const;

describe.each(variants)('NRU (%s) on a padded batch', (_, variant) => {
  it.each(paddedPaths)('$path: real steps, final states and gradients equal each sequence run alone', ({ useFused, pad }) => {
    const built = buildCell(NRU, { ...variant, hidden: 6, memory: 4, heads: 4 }, { inputSize: 3, seed: 4 });
    const r = comparePadded(built, { lengths: [5, 2, 4, 1, 5, 0], inputSize: 3, pad, useFused });
    expect(paddedProblems(r, { useFused, tol: 1e-4 })).toEqual([]);
    built.dispose();
  });
});
