import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { runtimeOf } from '@cellstack/core';
import { STAR } from '../src/index.js';

const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' }).use(STAR);

/** Pixel MNIST as in the paper's Table 2: input [784, 1], width 128, a 10-class dense head. */
const countParams = (cell: string, layers: number) => {
  const model = rt.build({
    input: { shape: [784, 1] },
    layers: [{ cell, options: { units: 128 }, repeat: layers }, { type: 'last' }, { type: 'dense', units: 10, activation: 'softmax' }],
    seed: 1,
  });
  const n = model.countParams();
  model.dispose();
  return n;
};

describe('STAR parameter counts (paper Table 2, ×10³, pixel MNIST, width 128)', () => {
  // Exact: first layer 2·128 + 128² + 2·128 = 16,896; later layers 3·128² + 2·128 = 49,408; head 1,290.
  it.each([
    [1, 18, 18_186],
    [2, 67, 67_594],
    [4, 166, 166_410],
    [8, 364, 364_042],
    [16, 759, 759_306],
  ])('%i layers: %ik (exactly %i)', (layers, table, exact) => {
    const n = countParams('STAR', layers);
    expect(n).toBe(exact);
    // The table truncates to thousands (67,594 is listed as 67).
    expect(Math.floor(n / 1000)).toBe(table);
  });

  // The LSTM column of the same table rounds to thousands.
  it.each([
    [1, 68, 67_850],
    [2, 199, 199_434],
    [4, 463, 462_602],
    [8, 989, 988_938],
    [16, 2042, 2_041_610],
  ])('an LSTM of equal width, %i layers: %ik (exactly %i)', (layers, table, exact) => {
    const n = countParams('LSTM', layers);
    expect(n).toBe(exact);
    expect(Math.round(n / 1000)).toBe(table);
  });
});
