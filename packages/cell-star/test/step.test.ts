import { describe, expect, it } from 'vitest';
import { buildCell, ref, runCell, sigmoid } from '@cellstack/core/testing';
import { STAR } from '../src/index.js';

// Tiny weights: input 2, units 2. kernel = [W_z | W_x] ([2, 4]), recurrent W_h [2, 2], bias [b_z | b_k].
const Wz = [[0.4, -0.3], [0.2, 0.5]];
const Wx = [[-0.1, 0.3], [0.25, -0.2]];
const Wh = [[0.6, -0.4], [0.3, 0.7]];
const bz = [0.1, -0.2];
const bk = [-1.5, 0.5];
const values = { kernel: Wz.map((row, i) => [...row, ...Wx[i]]), recurrent: Wh, bias: [...bz, ...bk] };
const x = [[[0.5, -1], [0.9, 0.3], [-0.7, 0.2]]];
const h0 = [[0.3, -0.2]];

/** Equations 10–12 of the paper, in plain JS. */
function paperStep(xt: number[], h: number[]) {
  const z = ref.add(ref.vecMat(xt, Wz), bz).map(Math.tanh);
  const k = ref.add(ref.vecMat(xt, Wx), ref.vecMat(h, Wh), bk).map(sigmoid);
  return { h: k.map((ki, i) => Math.tanh((1 - ki) * h[i] + ki * z[i])), k };
}

/** star.py STARCell.__call__: h = tanh(σ(f) h + (1 − σ(f − 1)) tanh(j)). */
function officialStep(xt: number[], h: number[]) {
  const j = ref.add(ref.vecMat(xt, Wz), bz);
  const f = ref.add(ref.vecMat(xt, Wx), ref.vecMat(h, Wh), bk);
  const k = f.map((fi) => 1 - sigmoid(fi - 1));
  return { h: f.map((fi, i) => Math.tanh(sigmoid(fi) * h[i] + k[i] * Math.tanh(j[i]))), k };
}

describe.each([
  ['paper', paperStep],
  ['official', officialStep],
] as const)('STAR variant %s', (variant, reference) => {
  it('one step equals the equations on tiny weights', () => {
    const cell = buildCell(STAR, { units: 2, variant }, { inputSize: 2, values });
    const r = runCell(cell, [[x[0][0]]], { initialState: { h: h0 } });
    const want = reference(x[0][0], h0[0]);
    r.outputs[0][0].forEach((v, i) => expect(v).toBeCloseTo(want.h[i], 6));
    r.state.h[0].forEach((v, i) => expect(v).toBeCloseTo(want.h[i], 6));
    r.signals.k[0][0].forEach((v, i) => expect(v).toBeCloseTo(want.k[i], 6));
    cell.dispose();
  });

  it('three steps follow the recurrence', () => {
    const cell = buildCell(STAR, { units: 2, variant }, { inputSize: 2, values });
    const r = runCell(cell, x, { initialState: { h: h0 } });
    let h = h0[0];
    x[0].forEach((xt, t) => {
      h = reference(xt, h).h;
      r.outputs[0][t].forEach((v, i) => expect(v).toBeCloseTo(h[i], 6));
    });
    cell.dispose();
  });
});

describe('STAR variants', () => {
  it('differ on the same weights (the code form is not the paper form)', () => {
    const a = buildCell(STAR, { units: 2, variant: 'paper' }, { inputSize: 2, values });
    const b = buildCell(STAR, { units: 2, variant: 'official' }, { inputSize: 2, values });
    const ha = runCell(a, x, { initialState: { h: h0 } }).outputs[0][2];
    const hb = runCell(b, x, { initialState: { h: h0 } }).outputs[0][2];
    expect(Math.max(...ha.map((v, i) => Math.abs(v - hb[i])))).toBeGreaterThan(1e-2);
    a.dispose();
    b.dispose();
  });

  it('starts from h = 0 and keeps the state bounded by tanh', () => {
    const cell = buildCell(STAR, { units: 2 }, { inputSize: 2, values });
    const r = runCell(cell, [[[50, -50], [50, 50]]]);
    const want = paperStep([50, -50], [0, 0]).h;
    r.outputs[0][0].forEach((v, i) => expect(v).toBeCloseTo(want[i], 6));
    for (const v of r.outputs[0].flat()) expect(Math.abs(v)).toBeLessThan(1);
    cell.dispose();
  });
});
