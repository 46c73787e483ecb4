import { describe, expect, it } from 'vitest';
import { cellPath } from '@cellstack/core';
import { CellTester, ref, sigmoid, type StepReference } from '@cellstack/core/testing';
import { MGU } from '../src/index.js';

// MGU in plain JS, one batch row: f = σ(x W_f + h U_f + b_f), h̃ = tanh(x W_h + (f ∘ h) U_h + b_h), h' = (1 − f) h + f h̃.
const mgu: StepReference = (x, { h }, w) => {
  const H = h.length;
  const xw = ref.add(ref.vecMat(x, w.matrix('kernel')), w.vector('bias'));
  const f = ref.add(xw.slice(0, H), ref.vecMat(h, w.matrix('recurrentGate'))).map(sigmoid);
  const hh = ref.add(xw.slice(H), ref.vecMat(ref.mul(f, h), w.matrix('recurrentCandidate'))).map(Math.tanh);
  const h2 = h.map((v, i) => (1 - f[i]) * v + f[i] * hh[i]);
  return { output: h2, state: { h: h2 } };
};

describe('MGU', () => {
  it('one step equals the equations: hand-set weights, then random ones', () => {
    const tiny = new CellTester(MGU, { options: { units: 1 }, inputSize: 1, values: { kernel: [[0.5, -0.3]], recurrentGate: [[0.2]], recurrentCandidate: [[0.7]], bias: [0.1, -0.2] } });
    expect(tiny.oneStep(mgu).maxError).toBeLessThan(1e-6);
    tiny.dispose();
    const t = new CellTester(MGU, { options: { units: 4 }, inputSize: 3, seed: 5 });
    const r = t.oneStep(mgu, { batch: 4 });
    expect(r.maxError, r.worst).toBeLessThan(1e-6);
    t.dispose();
  });

  it('gradients match finite differences', () => {
    const t = new CellTester(MGU, { options: { units: 3 }, inputSize: 2, seed: 2 });
    const r = t.gradients();
    expect(r.maxRelError, r.worst).toBeLessThan(2e-2);
    t.dispose();
  });

  it('the traced kernel equals the step loop: outputs, final state, every gradient', () => {
    expect(cellPath(MGU)).toBe('traced');
    const t = new CellTester(MGU, { options: { units: 5 }, inputSize: 3, seed: 3 });
    const r = t.kernelVsLoop({ kernel: 'traced' });
    expect(r.path).toBe('traced');
    expect(Object.keys(r.errors)).toEqual(['output', 'state.h', 'grad.x', 'grad.kernel', 'grad.recurrentGate', 'grad.recurrentCandidate', 'grad.bias', 'grad.state.h']);
    expect(r.maxError, JSON.stringify(r.errors)).toBeLessThan(1e-4);
    t.dispose();
  });

  it('trains traced in a model without leaking tensors, and saves → loads to identical outputs', async () => {
    const t = new CellTester(MGU, { options: { units: 8 }, inputSize: 2, seed: 1 });
    const r = await t.train({ steps: 20 });
    expect(r.path).toBe('traced');
    expect(r.leaked).toBe(0);
    expect(r.losses.at(-1)!).toBeLessThan(r.losses[0] * 0.5);
    expect(await t.saveLoad()).toBe(0);
    t.dispose();
  });

  it('rejects bad options with the option path', () => {
    const t = new CellTester(MGU, { inputSize: 2 });
    expect(t.optionError({ units: 0 })).toBe('options.units: must be an integer >= 1 (got 0)');
    expect(t.optionError({ unit: 4 })).toMatch(/^options\.unit: unknown option 'unit'/);
    t.dispose();
  });
});
