import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { SimpleRNN } from '@cellstack/core';
import { buildCell, forward, gradCheck, randomArray3, ref, runCell } from '@cellstack/core/testing';

describe('SimpleRNN', () => {
  it('two steps equal the equations on tiny weights', () => {
    const kernel = [
      [0.4, -0.3],
      [0.2, 0.5],
    ];
    const recurrent = [
      [0.6, -0.1],
      [0.3, 0.2],
    ];
    const bias = [0.05, -0.05];
    const cell = buildCell(SimpleRNN, { units: 2 }, { inputSize: 2, values: { kernel, recurrent, bias } });
    const xs = [
      [1, -0.5],
      [0.25, 0.75],
    ];
    const r = runCell(cell, [xs]);
    let h = [0, 0];
    xs.forEach((x, t) => {
      h = ref.add(ref.vecMat(x, kernel), ref.vecMat(h, recurrent), bias).map(Math.tanh);
      r.outputs[0][t].forEach((v, k) => expect(v).toBeCloseTo(h[k], 6));
    });
    cell.dispose();
  });

  it('gradients match finite differences', () => {
    const cell = buildCell(SimpleRNN, { units: 3 }, { inputSize: 2, seed: 4 });
    const x = tf.variable(tf.tensor3d(randomArray3(2, 4, 2, 5)));
    const r = gradCheck(() => tf.tidy(() => tf.sum(tf.square(forward(cell, x))) as tf.Scalar), { ...cell.params, x });
    expect(r.maxRelError, r.worst).toBeLessThan(2e-2);
    cell.dispose();
    x.dispose();
  });


});
