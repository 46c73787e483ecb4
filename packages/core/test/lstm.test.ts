import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { LSTM } from '@cellstack/core';
import { buildCell, forward, gradCheck, randomArray3, ref, runCell, sigmoid } from '@cellstack/core/testing';

describe('LSTM', () => {
  it('one step equals the equations on tiny weights', () => {
    // x 2, h 2: kernel [2, 8], recurrent [2, 8], bias [8], gate order i f c o.
    const kernel = [
      [0.1, -0.2, 0.3, 0.05, -0.1, 0.2, 0.15, -0.05],
      [0.2, 0.1, -0.3, 0.25, 0.05, -0.15, 0.1, 0.3],
    ];
    const recurrent = [
      [0.05, 0.1, -0.1, 0.2, 0.3, -0.2, 0.1, 0.05],
      [-0.1, 0.2, 0.15, -0.05, 0.1, 0.25, -0.3, 0.2],
    ];
    const bias = [0, 0, 1, 1, 0, 0, 0, 0];
    const cell = buildCell(LSTM, { units: 2 }, { inputSize: 2, values: { kernel, recurrent, bias } });
    const x = [[[0.5, -1]]];
    const h0 = [[0.3, -0.2]];
    const c0 = [[0.1, 0.4]];
    const r = runCell(cell, x, { initialState: { h: h0, c: c0 } });
    const z = ref.add(ref.vecMat(x[0][0], kernel), ref.vecMat(h0[0], recurrent), bias);
    const i = z.slice(0, 2).map(sigmoid);
    const f = z.slice(2, 4).map(sigmoid);
    const g = z.slice(4, 6).map(Math.tanh);
    const o = z.slice(6, 8).map(sigmoid);
    const c = ref.add(ref.mul(f, c0[0]), ref.mul(i, g));
    const h = ref.mul(o, c.map(Math.tanh));
    r.state.c[0].forEach((v, k) => expect(v).toBeCloseTo(c[k], 6));
    r.outputs[0][0].forEach((v, k) => expect(v).toBeCloseTo(h[k], 6));
    expect(r.signals.forget[0][0][1]).toBeCloseTo(f[1], 6);
    cell.dispose();
  });

  it('initialises the forget bias to 1 and the rest of the bias to 0', () => {
    const cell = buildCell(LSTM, { units: 3 }, { inputSize: 2 });
    expect(Array.from(cell.params.bias.dataSync())).toEqual([0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
    cell.dispose();
  });

  it('chrono init: b_f ~ log U[1, T−1] from the sequence length, b_i = −b_f, the rest 0', () => {
    const cell = buildCell(LSTM, { units: 400, chrono: true }, { inputSize: 1, timesteps: 50 });
    const b = Array.from(cell.params.bias.dataSync());
    const f = b.slice(400, 800);
    expect(Math.min(...f)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...f)).toBeLessThanOrEqual(Math.log(49) + 1e-6);
    expect(Math.abs(f.reduce((a, v) => a + Math.exp(v), 0) / 400 - 25)).toBeLessThan(3); // exp(b_f) ~ U[1, 49]
    b.slice(0, 400).forEach((v, j) => expect(v).toBe(-f[j]));
    expect(b.slice(800).every((v) => v === 0)).toBe(true);
    cell.dispose();
  });

  it('gradients match finite differences', () => {
    const cell = buildCell(LSTM, { units: 3 }, { inputSize: 2, seed: 4 });
    const x = tf.variable(tf.tensor3d(randomArray3(2, 4, 2, 5)));
    const loss = () => tf.tidy(() => tf.sum(tf.square(forward(cell, x))) as tf.Scalar);
    const r = gradCheck(loss, { ...cell.params, x });
    expect(r.maxRelError, r.worst).toBeLessThan(2e-2);
    cell.dispose();
    x.dispose();
  });



});
