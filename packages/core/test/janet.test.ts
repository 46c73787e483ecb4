import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { JANET } from '@cellstack/core';
import { buildCell, forward, gradCheck, randomArray3, ref, runCell, sigmoid } from '@cellstack/core/testing';

/** One step of a 2-unit JANET on fixed tiny weights, with the pre-activations the equations need. */
function oneStep(options: Record<string, unknown>) {
  const kernel = [
    [0.1, -0.2, 0.3, 0.05],
    [0.2, 0.1, -0.3, 0.25],
  ];
  const recurrent = [
    [0.05, 0.1, -0.1, 0.2],
    [-0.1, 0.2, 0.15, -0.05],
  ];
  const bias = [1.5, 2, 0, 0];
  const cell = buildCell(JANET, options, { inputSize: 2, values: { kernel, recurrent, bias } });
  const x = [0.5, -1];
  const h0 = [0.3, -0.2];
  const r = runCell(cell, [[x]], { initialState: { h: [h0] } });
  const z = ref.add(ref.vecMat(x, kernel), ref.vecMat(h0, recurrent), bias);
  return { cell, r, h0, s: z.slice(0, 2), cand: z.slice(2, 4).map(Math.tanh) };
}

describe('JANET', () => {
  it('one step equals the equations on tiny weights (beta 1)', () => {
    const { cell, r, h0, s, cand } = oneStep({ units: 2 });
    const h = ref.add(ref.mul(s.map(sigmoid), h0), ref.mul(s.map((v) => 1 - sigmoid(v - 1)), cand));
    r.outputs[0][0].forEach((v, k) => expect(v).toBeCloseTo(h[k], 6));
    expect(r.signals.forget[0][0][0]).toBeCloseTo(sigmoid(s[0]), 6);
    cell.dispose();
  });

  it.each([
    [undefined, 0],
    [0.5, 0.5],
  ])("form 'star' (STAR App. A.3 eq. 24): one step equals tanh of the update, beta %s → %s", (beta, used) => {
    const { cell, r, h0, s, cand } = oneStep(beta === undefined ? { units: 2, form: 'star' } : { units: 2, form: 'star', beta });
    const h = ref.add(ref.mul(s.map(sigmoid), h0), ref.mul(s.map((v) => 1 - sigmoid(v - used)), cand)).map(Math.tanh);
    r.outputs[0][0].forEach((v, k) => expect(v).toBeCloseTo(h[k], 6));
    // with beta 0 the two gates sum to 1: f h + (1 − f) z
    if (used === 0) expect(h[0]).toBeCloseTo(Math.tanh(sigmoid(s[0]) * h0[0] + (1 - sigmoid(s[0])) * cand[0]), 6);
    cell.dispose();
  });

  it("form 'star' gradients match finite differences", () => {
    const cell = buildCell(JANET, { units: 3, form: 'star' }, { inputSize: 2, seed: 4, timesteps: 10 });
    const x = tf.variable(tf.tensor3d(randomArray3(2, 4, 2, 5)));
    const r = gradCheck(() => tf.tidy(() => tf.sum(tf.square(forward(cell, x))) as tf.Scalar), { ...cell.params, x });
    expect(r.maxRelError, r.worst).toBeLessThan(2e-2);
    cell.dispose();
    x.dispose();
  });

  it('rejects an unknown form, naming the option and the allowed values', () => {
    expect(() => buildCell(JANET, { units: 2, form: 'lstm' }, { inputSize: 1 })).toThrow(/form.*janet.*star/s);
  });

  it('chrono-initialises the forget bias from the sequence length: log U[1, T−1]', () => {
    const cell = buildCell(JANET, { units: 500 }, { inputSize: 1, timesteps: 50 });
    const b = Array.from(cell.params.bias.dataSync());
    const forget = b.slice(0, 500);
    expect(Math.min(...forget)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...forget)).toBeLessThanOrEqual(Math.log(49) + 1e-6);
    // exp(b) is uniform on [1, 49]: its mean is 25 (±3 for 500 draws)
    const m = forget.reduce((a, v) => a + Math.exp(v), 0) / 500;
    expect(Math.abs(m - 25)).toBeLessThan(3);
    expect(b.slice(500).every((v) => v === 0)).toBe(true);
    cell.dispose();
  });

  it('gradients match finite differences', () => {
    const cell = buildCell(JANET, { units: 3 }, { inputSize: 2, seed: 4, timesteps: 10 });
    const x = tf.variable(tf.tensor3d(randomArray3(2, 4, 2, 5)));
    const r = gradCheck(() => tf.tidy(() => tf.sum(tf.square(forward(cell, x))) as tf.Scalar), { ...cell.params, x });
    expect(r.maxRelError, r.worst).toBeLessThan(2e-2);
    cell.dispose();
    x.dispose();
  });


});
