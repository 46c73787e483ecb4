import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { buildCell, forward, gradCheck, randomArray3 } from '@cellstack/core/testing';
import { STAR } from '../src/index.js';

describe.each(['paper', 'official'] as const)('STAR %s gradients', (variant) => {
  it('match finite differences for every parameter and the input', () => {
    const cell = buildCell(STAR, { units: 3, variant, tmax: 10 }, { inputSize: 2, seed: 4 });
    const x = tf.variable(tf.tensor3d(randomArray3(2, 5, 2, 5)));
    const loss = () => tf.tidy(() => tf.sum(tf.square(forward(cell, x))) as tf.Scalar);
    const r = gradCheck(loss, { ...cell.params, x });
    expect(r.checked).toBe(12 + 9 + 6 + 12); // every kernel, recurrent and bias entry, 12 of x
    expect(r.maxRelError, r.worst).toBeLessThan(2e-2);
    cell.dispose();
    x.dispose();
  });
});
