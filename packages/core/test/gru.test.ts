import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { GRU } from '@cellstack/core';
import { buildCell, forward, gradCheck, randomArray3, ref, runCell, sigmoid } from '@cellstack/core/testing';

describe('GRU', () => {
  it('one step equals the equations on tiny weights', () => {
    // x 2, h 2; kernel columns: z z r r h h
    const kernel = [
      [0.1, -0.2, 0.3, 0.05, -0.1, 0.2],
      [0.2, 0.1, -0.3, 0.25, 0.05, -0.15],
    ];
    const recurrentGates = [
      [0.05, 0.1, -0.1, 0.2],
      [-0.1, 0.2, 0.15, -0.05],
    ];
    const recurrentCandidate = [
      [0.3, -0.2],
      [0.1, 0.25],
    ];
    const bias = [0.1, -0.1, 0, 0.2, 0, 0.05];
    const cell = buildCell(GRU, { units: 2 }, { inputSize: 2, values: { kernel, recurrentGates, recurrentCandidate, bias } });
    const x = [0.5, -1];
    const h0 = [0.3, -0.2];
    const r = runCell(cell, [[x]], { initialState: { h: [h0] } });
    const xz = ref.add(ref.vecMat(x, kernel), bias);
    const gates = ref.add(xz.slice(0, 4), ref.vecMat(h0, recurrentGates)).map(sigmoid);
    const z = gates.slice(0, 2);
    const rr = gates.slice(2, 4);
    const hh = ref.add(xz.slice(4, 6), ref.vecMat(ref.mul(rr, h0), recurrentCandidate)).map(Math.tanh);
    const h = ref.add(ref.mul(z, h0), ref.mul(z.map((v) => 1 - v), hh));
    r.outputs[0][0].forEach((v, k) => expect(v).toBeCloseTo(h[k], 6));
    cell.dispose();
  });

  it('gradients match finite differences', () => {
    const cell = buildCell(GRU, { units: 3 }, { inputSize: 2, seed: 4 });
    const x = tf.variable(tf.tensor3d(randomArray3(2, 4, 2, 5)));
    const r = gradCheck(() => tf.tidy(() => tf.sum(tf.square(forward(cell, x))) as tf.Scalar), { ...cell.params, x });
    expect(r.maxRelError, r.worst).toBeLessThan(2e-2);
    cell.dispose();
    x.dispose();
  });


});
