import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { GRU } from '@cellstack/core';
import { CellTester, ref, sigmoid, type StepReference } from '@cellstack/core/testing';

// GRU in plain JS, one batch row (kernel columns z | r | h, as the core's GRU lays them out).
const gru: StepReference = (x, { h }, w) => {
  const H = h.length;
  const xz = ref.add(ref.vecMat(x, w.matrix('kernel')), w.vector('bias'));
  const gates = ref.add(xz.slice(0, 2 * H), ref.vecMat(h, w.matrix('recurrentGates'))).map(sigmoid);
  const [z, r] = [gates.slice(0, H), gates.slice(H)];
  const hh = ref.add(xz.slice(2 * H), ref.vecMat(ref.mul(r, h), w.matrix('recurrentCandidate'))).map(Math.tanh);
  const h2 = h.map((v, i) => z[i] * v + (1 - z[i]) * hh[i]);
  return { output: h2, state: { h: h2 } };
};

describe('CellTester', () => {
  it('one step against a plain-JS reference: agrees with a right one, names the worst entry of a wrong one', () => {
    const t = new CellTester(GRU, { options: { units: 3 }, inputSize: 2, seed: 4 });
    expect(t.oneStep(gru).maxError).toBeLessThan(1e-6);
    const wrong = t.oneStep((x, s, w) => {
      const r = gru(x, s, w);
      return { output: r.output.map((v, i) => (i === 1 ? v + 0.25 : v)) };
    });
    expect(wrong.maxError).toBeCloseTo(0.25, 5);
    expect(wrong.worst).toMatch(/^row \d output\[1\]: cell -?[\d.e-]+, reference -?[\d.e-]+$/);
    expect(() => t.oneStep((x, s, w) => ({ output: w.vector('kernel') }))).toThrow("GRU's parameter 'kernel' has shape [2, 9], not rank 1");
    expect(() => t.oneStep((x, s, w) => ({ output: w.vector('gain') }))).toThrow("GRU has no parameter 'gain'; it has kernel, recurrentGates, recurrentCandidate, bias");
    expect(() => t.oneStep((x, { h }) => ({ output: h, state: { c: h } }))).toThrow("the reference returns state 'c'; GRU's state is h");
    t.dispose();
  });

  it('hand-set weights: the reference sees exactly them', () => {
    const values = { kernel: [[0.1, 0.2, 0.3]], recurrentGates: [[0.4, -0.5]], recurrentCandidate: [[0.6]], bias: [0, 0.1, -0.1] };
    const t = new CellTester(GRU, { options: { units: 1 }, inputSize: 1, values });
    const seen: Record<string, unknown> = {};
    const r = t.oneStep((x, s, w) => {
      Object.assign(seen, { kernel: w.matrix('kernel'), bias: w.vector('bias'), candidate: w.matrix('recurrentCandidate') });
      return gru(x, s, w);
    });
    expect(r.maxError).toBeLessThan(1e-6);
    expect(seen).toEqual({ kernel: [[expect.closeTo(0.1, 6), expect.closeTo(0.2, 6), expect.closeTo(0.3, 6)]], bias: [0, expect.closeTo(0.1, 6), expect.closeTo(-0.1, 6)], candidate: [[expect.closeTo(0.6, 6)]] });
    t.dispose();
  });

  it('gradients, the traced and the hand-written kernel against the loop, training, save → load, leaks', async () => {
    const before = tf.memory().numTensors;
    const t = new CellTester(GRU, { options: { units: 4 }, inputSize: 3, seed: 2 });
    const g = t.gradients();
    expect(g.maxRelError, g.worst).toBeLessThan(2e-2);
    expect(g.checked).toBeGreaterThan(40);
    for (const kernel of ['traced', 'hand-written'] as const) {
      const k = t.kernelVsLoop({ kernel });
      expect(k.path).toBe(kernel);
      expect(k.fusedRuns).toBe(1);
      expect(Object.keys(k.errors)).toEqual(expect.arrayContaining(['output', 'state.h', 'grad.x', 'grad.kernel', 'grad.bias', 'grad.state.h']));
      expect(k.maxError).toBeLessThan(1e-4);
    }
    const r = await t.train({ steps: 15 });
    expect(r.path).toBe('hand-written');
    expect(r.leaked).toBe(0);
    expect(r.losses.at(-1)!).toBeLessThan(r.losses[0] * 0.7);
    expect(await t.saveLoad()).toBe(0);
    t.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('bad options: returns the plugin’s message, and fails when the options are accepted', () => {
    const t = new CellTester(GRU, { options: { units: 2 }, inputSize: 1 });
    expect(t.optionError({ units: 0 })).toMatch(/^options\.units: /);
    expect(() => t.optionError({ units: 3 })).toThrow('GRU accepted bad options {"units":3}');
    t.dispose();
  });
});
