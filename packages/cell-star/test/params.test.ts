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
  // Exact: first layer 3·128 + 128² + 2·128 = 16,896; later layers 3·128² + 2·128 = 49,408; head 1,290.
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

  it('an LSTM of equal width: 67,850 and 462,602 for 1 and 4 layers (Table 2: 68k, 463k, rounded)', () => {
    const lstm1 = countParams('LSTM', 1);
    const lstm4 = countParams('LSTM', 4);
    expect([lstm1, lstm4]).toEqual([67_850, 462_602]);
    expect(Math.round(lstm1 / 1000)).toBe(68);
    expect(Math.round(lstm4 / 1000)).toBe(463);
  });
});
