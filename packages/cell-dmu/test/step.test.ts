import { describe, expect, it } from 'vitest';
import { createRng } from '@cellstack/core';
import { buildCell, randomArray3, ref, runCell, sigmoid } from '@cellstack/core/testing';
import { DMU } from '../src/index.js';

const leaky = (v: number) => (v > 0 ? v : 0.01 * v);
const random = (rows: number, cols: number, seed: number) => {
  const rng = createRng(seed);
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => rng.uniform(-0.6, 0.6)));
};

/** The paper's equations on the full W_1 acting on [x_t, h_{t−1}] — no x/h split. */
function referenceStep(x: number[], h: number[], Ws: number[][][], bs: number[][], act: (v: number) => number, f: (v: number) => number) {
  let a = [...x, ...h];
  Ws.forEach((W, i) => {
    const pre = ref.add(ref.vecMat(a, W), bs[i]);
    a = i < Ws.length - 1 ? pre.map(act) : pre;
  });
  const d = h.length;
  const s = a.slice(0, d).map(sigmoid);
  const cand = a.slice(d).map(f);
  return { h: h.map((hv, k) => s[k] * hv + (1 - s[k]) * cand[k]), s };
}

describe('DMU step', () => {
  const F = 2;
  const d = 3;
  for (const layers of [[], [4], [4, 5], [4, 5, 2]]) {
    it(`two steps equal the equations, FNN depth ${layers.length + 1} (layers [${layers}])`, () => {
      const widths = [...layers, 2 * d];
      const ins = [F + d, ...layers];
      const Ws = widths.map((w, i) => random(ins[i], w, 10 + i));
      const bs = widths.map((w, i) => random(1, w, 20 + i)[0]);
      const values: Record<string, number[][] | number[]> = { kernel1_x: Ws[0].slice(0, F), kernel1_h: Ws[0].slice(F), bias1: bs[0] };
      for (let i = 1; i < widths.length; i++) Object.assign(values, { [`kernel${i + 1}`]: Ws[i], [`bias${i + 1}`]: bs[i] });
      const cell = buildCell(DMU, { units: d, layers }, { inputSize: F, values });
      const x = randomArray3(2, 2, F, 3);
      const h0 = [[0.3, -0.5, 0.8], [-0.1, 0.2, 0.0]];
      const r = runCell(cell, x, { initialState: { h: h0 } });
      for (let b = 0; b < 2; b++) {
        let h = h0[b];
        for (let t = 0; t < 2; t++) {
          const want = referenceStep(x[b][t], h, Ws, bs, leaky, Math.tanh);
          r.outputs[b][t].forEach((v, k) => expect(v).toBeCloseTo(want.h[k], 5));
          r.signals.sigmaZ[t][b].forEach((v, k) => expect(v).toBeCloseTo(want.s[k], 5));
          h = want.h;
        }
      }
      cell.dispose();
    });
  }

  it('uses the chosen hidden and candidate activations', () => {
    const layers = [4];
    const Ws = [random(F + d, 4, 31), random(4, 2 * d, 32)];
    const bs = [random(1, 4, 33)[0], random(1, 2 * d, 34)[0]];
    const values = { kernel1_x: Ws[0].slice(0, F), kernel1_h: Ws[0].slice(F), bias1: bs[0], kernel2: Ws[1], bias2: bs[1] };
    const cell = buildCell(DMU, { units: d, layers, activation: 'tanh', candidateActivation: 'sigmoid' }, { inputSize: F, values });
    const x = [[[0.7, -0.4]]];
    const h0 = [[0.5, -0.5, 0.25]];
    const want = referenceStep(x[0][0], h0[0], Ws, bs, Math.tanh, sigmoid);
    runCell(cell, x, { initialState: { h: h0 } }).outputs[0][0].forEach((v, k) => expect(v).toBeCloseTo(want.h[k], 5));
    cell.dispose();
  });

  it('preserves the state exactly when z → +∞ (zero weights, zBias 30): h_t = h_{t−1}', () => {
    const layers = [4, 3];
    const zeros = (r: number, c: number) => Array.from({ length: r }, () => new Array<number>(c).fill(0));
    const cell = buildCell(DMU, { units: d, layers, zBias: 30 }, {
      inputSize: F,
      values: { kernel1_x: zeros(F, 4), kernel1_h: zeros(d, 4), kernel2: zeros(4, 3), kernel3: zeros(3, 2 * d) },
    });
    expect(Array.from(cell.params.bias3.dataSync())).toEqual([30, 30, 30, 0, 0, 0]);
    const h0 = [[0.3, -0.7, 0.123456], [1e-3, -0.99, 0.5]];
    const r = runCell(cell, randomArray3(2, 20, F, 4, -5, 5), { initialState: { h: h0 } });
    for (let b = 0; b < 2; b++) for (let t = 0; t < 20; t++) expect(r.outputs[b][t]).toEqual(h0[b].map((v) => Math.fround(v)));
    cell.dispose();
  });

  it('with zero weights and the default zBias 3 the memory decays by σ(3) per step', () => {
    const cell = buildCell(DMU, { units: 2, layers: [] }, { inputSize: 1, values: { kernel1_x: [[0, 0, 0, 0]], kernel1_h: [[0, 0, 0, 0], [0, 0, 0, 0]] } });
    const r = runCell(cell, [[[1], [1], [1]]], { initialState: { h: [[1, -0.5]] } });
    [1, 2, 3].forEach((t) => r.outputs[0][t - 1].forEach((v, k) => expect(v).toBeCloseTo([1, -0.5][k] * sigmoid(3) ** t, 6)));
    cell.dispose();
  });
});

describe('DMU initialisation', () => {
  it('Xavier-uniform with the activation gain over the whole [x, h] fan-in, zero biases, zBias on the z half', () => {
    const F = 30;
    const d = 20;
    const cell = buildCell(DMU, { units: d, layers: [40], zBias: 3 }, { inputSize: F, seed: 5 });
    const maxAbs = (name: string) => Math.max(...Array.from(cell.params[name].dataSync(), Math.abs));
    const lim1 = Math.sqrt(2 / (1 + 1e-4)) * Math.sqrt(6 / (F + d + 40));
    const lim2 = Math.sqrt(6 / (40 + 2 * d)); // linear output layer: gain 1
    for (const name of ['kernel1_x', 'kernel1_h']) {
      expect(maxAbs(name)).toBeLessThanOrEqual(lim1);
      expect(maxAbs(name)).toBeGreaterThan(0.95 * lim1);
    }
    expect(maxAbs('kernel2')).toBeLessThanOrEqual(lim2);
    expect(maxAbs('kernel2')).toBeGreaterThan(0.95 * lim2);
    expect(Array.from(cell.params.bias1.dataSync())).toEqual(new Array(40).fill(0));
    expect(Array.from(cell.params.bias2.dataSync())).toEqual([...new Array(d).fill(3), ...new Array(d).fill(0)]);
    cell.dispose();
  });

  it('declares learning-rate multipliers 1/(n+1−i) per FNN layer, none when depthScaledLr is off', () => {
    const scaled = DMU.create(DMU.resolveOptions({ units: 3, layers: [4, 5] }), { inputSize: 2, timesteps: null });
    const mult = Object.fromEntries(Object.entries(scaled.params).map(([k, p]) => [k, p.lrMultiplier]));
    expect(mult).toEqual({ kernel1_x: 1 / 3, kernel1_h: 1 / 3, bias1: 1 / 3, kernel2: 1 / 2, bias2: 1 / 2, kernel3: 1, bias3: 1 });
    const plain = DMU.create(DMU.resolveOptions({ units: 3, layers: [4, 5], depthScaledLr: false }), { inputSize: 2, timesteps: null });
    expect(Object.values(plain.params).map((p) => p.lrMultiplier)).toEqual(new Array(7).fill(undefined));
  });

  it('has the paper’s parameter count for its adding block ((5, 5)): 100 in the block, 106 with the readout', () => {
    const cell = DMU.create(DMU.resolveOptions({ units: 5 }), { inputSize: 2, timesteps: null });
    const count = Object.values(cell.params).reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
    expect(count).toBe(100);
    expect(count + 5 + 1).toBe(106); // Table 1: DMU ((5, 5)) on Adding, 106 weights
  });
});
