import { describe, expect, it } from 'vitest';
import { createRng } from '@cellstack/core';
import { buildCell, ref, runCell } from '@cellstack/core/testing';
import { URGRU, URLSTM } from '../src/index.js';
import { PRESET_NAMES, gruStep, hasGateBias, lstmStep } from './reference.js';

// Tiny sizes: 2 inputs, d = 4 units, master chunk 2 (so 2 master gates, each shared by 2 units).
const F = 2;
const D = 4;
const C = 2;
const B = 2;

/** Random values for every parameter the built cell declares, by its own shapes. */
function randomValues(cell: ReturnType<typeof buildCell>, seed: number) {
  const rng = createRng(seed);
  const values: Record<string, number[][] | number[]> = {};
  for (const [name, spec] of Object.entries(cell.cell.params)) {
    const scale = name === 'gateBias' ? 2 : 0.6;
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const flat = Array.from({ length: n }, () => rng.uniform(-scale, scale));
    values[name] = spec.shape.length === 2 ? ref.reshape(flat, spec.shape[0], spec.shape[1]) : flat;
  }
  return values;
}

const x = [[[0.5, -1]], [[-0.3, 0.8]]];
const h0 = [
  [0.3, -0.2, 0.1, 0.6],
  [-0.5, 0.4, 0.2, -0.1],
];
const c0 = [
  [0.1, 0.4, -0.7, 0.2],
  [0.9, -0.3, 0.05, -0.6],
];

const close = (actual: number[], expected: number[], what: string) => {
  expect(actual.length, what).toBe(expected.length);
  actual.forEach((v, k) => expect(v, `${what}[${k}]`).toBeCloseTo(expected[k], 5));
};

describe.each(PRESET_NAMES)("preset '%s': one step equals the paper's equations", (preset) => {
  it('URLSTM', () => {
    const shaped = buildCell(URLSTM, { units: D, preset, chunkSize: C }, { inputSize: F });
    const values = randomValues(shaped, 11);
    shaped.dispose();
    expect('gateBias' in values).toBe(hasGateBias(preset));
    const cell = buildCell(URLSTM, { units: D, preset, chunkSize: C }, { inputSize: F, values });
    const r = runCell(cell, x, { initialState: { h: h0, c: c0 } });
    for (let b = 0; b < B; b++) {
      const e = lstmStep(preset, values as never, x[b][0], h0[b], c0[b], D, C);
      close(r.state.c[b], e.c, 'c');
      close(r.outputs[b][0], e.h, 'h');
      close(r.signals.forget[0][b], e.gates.forget, 'forget');
      close(r.signals.effective[0][b], e.gates.effective, 'effective');
      if (e.gates.refine) close(r.signals.refine[0][b], e.gates.refine, 'refine');
      if (e.gates.input) close(r.signals.input[0][b], e.gates.input, 'input');
      close(r.signals.output[0][b], e.o, 'output');
    }
    cell.dispose();
  });

  it('URGRU', () => {
    const shaped = buildCell(URGRU, { units: D, preset, chunkSize: C }, { inputSize: F });
    const values = randomValues(shaped, 12);
    shaped.dispose();
    const cell = buildCell(URGRU, { units: D, preset, chunkSize: C }, { inputSize: F, values });
    const r = runCell(cell, x, { initialState: { h: h0 } });
    for (let b = 0; b < B; b++) {
      const e = gruStep(preset, values as never, x[b][0], h0[b], D, C);
      close(r.outputs[b][0], e.h, 'h');
      close(r.signals.forget[0][b], e.gates.forget, 'forget');
      close(r.signals.effective[0][b], e.gates.effective, 'effective');
      if (e.gates.refine) close(r.signals.refine[0][b], e.gates.refine, 'refine');
      close(r.signals.reset[0][b], e.rho, 'reset');
    }
    cell.dispose();
  });
});

describe('options combine with the preset', () => {
  it("explicit gate options override the preset ('UR-' with refine 'none' is 'U-')", () => {
    const a = buildCell(URLSTM, { units: D, preset: 'UR-', refine: 'none' }, { inputSize: F, seed: 3 });
    const b = buildCell(URLSTM, { units: D, preset: 'U-' }, { inputSize: F, seed: 3 });
    const ra = runCell(a, x, { initialState: { h: h0, c: c0 } });
    const rb = runCell(b, x, { initialState: { h: h0, c: c0 } });
    expect(ra.outputs).toEqual(rb.outputs);
    expect(Object.keys(ra.signals).sort()).toEqual(['c', 'effective', 'forget', 'input', 'output']);
    a.dispose();
    b.dispose();
  });

  it("refineBias 'independent' drops the −b_f on the refine gate (s4 Gate)", () => {
    const shaped = buildCell(URLSTM, { units: D }, { inputSize: F });
    const values = randomValues(shaped, 5);
    shaped.dispose();
    const cell = buildCell(URLSTM, { units: D, refineBias: 'independent' }, { inputSize: F, values });
    const r = runCell(cell, x, { initialState: { h: h0, c: c0 } });
    // The reference with b = 0 on the refine side: add b into the forget columns' bias instead.
    const bias = (values.bias as number[]).map((v, k) => (k < D ? v + (values.gateBias as number[])[k] : v));
    const e = lstmStep('R-', { ...(values as object), bias, gateBias: undefined } as never, x[0][0], h0[0], c0[0], D, C);
    close(r.state.c[0], e.c, 'c');
    close(r.signals.refine[0][0], e.gates.refine!, 'refine');
    cell.dispose();
  });
});

describe('zoneout', () => {
  const opts = { units: D, zc: 0.5, zh: 0.05 };
  it('inference uses the expectation z·prev + (1 − z)·next, deterministically', () => {
    const shaped = buildCell(URLSTM, opts, { inputSize: F });
    const values = randomValues(shaped, 8);
    shaped.dispose();
    const cell = buildCell(URLSTM, opts, { inputSize: F, values });
    const r1 = runCell(cell, x, { initialState: { h: h0, c: c0 } });
    const r2 = runCell(cell, x, { initialState: { h: h0, c: c0 } });
    expect(r2.outputs).toEqual(r1.outputs);
    const e = lstmStep('UR-', values as never, x[0][0], h0[0], c0[0], D, C);
    close(r1.state.c[0], e.c.map((v, k) => 0.5 * c0[0][k] + 0.5 * v), 'c');
    close(r1.outputs[0][0], e.h.map((v, k) => 0.05 * h0[0][k] + 0.95 * v), 'h');
    cell.dispose();
  });

  it('training keeps each unit either at its previous or at its new value (Bernoulli masks)', () => {
    const o = { units: 64, zc: 0.5, zh: 0.5 };
    const cell = buildCell(URLSTM, o, { inputSize: F, seed: 2 });
    const h = [Array.from({ length: 64 }, (_, k) => Math.sin(k))];
    const c = [Array.from({ length: 64 }, (_, k) => Math.cos(k))];
    const plain = buildCell(URLSTM, { units: 64 }, { inputSize: F, seed: 2 });
    const next = runCell(plain, [x[0]], { initialState: { h, c } });
    const r = runCell(cell, [x[0]], { initialState: { h, c }, training: true });
    let kept = 0;
    r.state.c[0].forEach((v, k) => {
      const isPrev = Math.abs(v - c[0][k]) < 1e-6;
      const isNext = Math.abs(v - next.state.c[0][k]) < 1e-6;
      expect(isPrev || isNext, `c[${k}]`).toBe(true);
      if (isPrev && !isNext) kept++;
    });
    // 64 Bernoulli(0.5) draws: between 16 and 48 kept is a > 99.99% interval.
    expect(kept).toBeGreaterThan(16);
    expect(kept).toBeLessThan(48);
    const r2 = runCell(cell, [x[0]], { initialState: { h, c }, training: true });
    expect(r2.state.c).not.toEqual(r.state.c); // fresh masks per call
    cell.dispose();
    plain.dispose();
  });

  it('URGRU zoneout at inference is the expectation on h', () => {
    const shaped = buildCell(URGRU, { units: D, zh: 0.1 }, { inputSize: F });
    const values = randomValues(shaped, 9);
    shaped.dispose();
    const cell = buildCell(URGRU, { units: D, zh: 0.1 }, { inputSize: F, values });
    const r = runCell(cell, x, { initialState: { h: h0 } });
    const e = gruStep('UR-', values as never, x[1][0], h0[1], D, C);
    close(r.outputs[1][0], e.h.map((v, k) => 0.1 * h0[1][k] + 0.9 * v), 'h');
    cell.dispose();
  });
});
