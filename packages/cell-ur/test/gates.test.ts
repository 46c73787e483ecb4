import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createRng } from '@cellstack/core';
import { buildCell, sigmoid } from '@cellstack/core/testing';
import { URGRU, URLSTM, cumax, refineGate } from '../src/index.js';

/** Kolmogorov–Smirnov statistic of a sample against U[lo, hi]. */
function ksUniform(sample: number[], lo: number, hi: number): number {
  const s = [...sample].sort((a, b) => a - b);
  const n = s.length;
  let d = 0;
  s.forEach((v, k) => {
    const F = Math.min(1, Math.max(0, (v - lo) / (hi - lo)));
    d = Math.max(d, (k + 1) / n - F, F - k / n);
  });
  return d;
}

// Critical value of the one-sample KS test at α = 0.01 for n = 256: 1.628 / √256 ≈ 0.102.
const KS_TOLERANCE = 1.628 / Math.sqrt(256);

describe('uniform gate initialisation (UGI)', () => {
  const d = 256;
  it.each([
    ['URLSTM', 1, URLSTM],
    ['URLSTM', 2, URLSTM],
    ['URGRU', 3, URGRU],
  ] as const)('%s (seed %i), d = 256: σ(b_f) is uniform on [1/d, 1 − 1/d] (KS < 0.102, α = 0.01)', (_n, seed, plugin) => {
    const cell = buildCell(plugin, { units: d }, { inputSize: 3, seed });
    const f = Array.from(cell.params.gateBias.dataSync(), sigmoid);
    expect(f).toHaveLength(d);
    expect(Math.min(...f)).toBeGreaterThanOrEqual(1 / d - 1e-6);
    expect(Math.max(...f)).toBeLessThanOrEqual(1 - 1 / d + 1e-6);
    expect(ksUniform(f, 1 / d, 1 - 1 / d)).toBeLessThan(KS_TOLERANCE);
    cell.dispose();
  });

  it('the KS check rejects the standard init and chrono init (it can fail)', () => {
    const std = Array.from({ length: d }, () => sigmoid(1));
    expect(ksUniform(std, 1 / d, 1 - 1 / d)).toBeGreaterThan(KS_TOLERANCE);
    const cell = buildCell(URLSTM, { units: d, preset: 'C-' }, { inputSize: 3 });
    const chrono = Array.from(cell.params.gateBias.dataSync(), sigmoid);
    expect(ksUniform(chrono, 1 / d, 1 - 1 / d)).toBeGreaterThan(KS_TOLERANCE);
    // chrono: b_f = log τ, τ ∈ [1, T_max − 1] with T_max = units by default
    const tau = Array.from(cell.params.gateBias.dataSync(), Math.exp);
    expect(Math.min(...tau)).toBeGreaterThanOrEqual(1 - 1e-4);
    expect(Math.max(...tau)).toBeLessThanOrEqual(d - 1 + 1e-3);
    cell.dispose();
  });

  it("the initial forget activations at zero input and state are σ(b_f) (UGI reaches the gate; weightInit 'glorot' has zero linear bias)", () => {
    const cell = buildCell(URLSTM, { units: 8, weightInit: 'glorot' }, { inputSize: 2, seed: 9 });
    const b = Array.from(cell.params.gateBias.dataSync());
    const f = tf.tidy(() => {
      const x = tf.zeros([1, 2]) as tf.Tensor2D;
      const p = Object.fromEntries(Object.entries(cell.params).map(([k, v]) => [k, v as tf.Tensor]));
      const { x: z } = cell.cell.project!(x, p) as { x: tf.Tensor2D };
      return tf.sigmoid(tf.slice(z, [0, 0], [1, 8])).dataSync();
    });
    f.forEach((v, k) => expect(v).toBeCloseTo(sigmoid(b[k]), 6));
    cell.dispose();
  });
});

describe('weightInit', () => {
  const d = 64;
  const values = (cell: ReturnType<typeof buildCell>, name: string) => Array.from(cell.params[name].dataSync());

  it.each(['URLSTM', 'URGRU'])("%s 'uniform' (default): every weight U(±1/√d); linear biases the sum of two such draws", (name) => {
    const Cell = name === 'URLSTM' ? URLSTM : URGRU;
    const cell = buildCell(Cell, { units: d }, { inputSize: 10, seed: 5 });
    const k = 1 / Math.sqrt(d);
    const mats = Object.keys(cell.params).filter((p) => p === 'kernel' || p.startsWith('recurrent'));
    expect(mats.length).toBe(name === 'URLSTM' ? 2 : 3);
    // KS at α = 0.01 against U(±k), critical value 1.628/√n for the n weights of each matrix
    for (const m of mats) expect(ksUniform(values(cell, m), -k, k), m).toBeLessThan(1.628 / Math.sqrt(values(cell, m).length));
    // b_ih + b_hh: triangular on [−2k, 2k], variance 2k²/3
    const b = values(cell, 'bias');
    expect(Math.max(...b.map(Math.abs))).toBeLessThanOrEqual(2 * k);
    const variance = b.reduce((a, v) => a + v * v, 0) / b.length;
    expect(variance / ((2 * k * k) / 3)).toBeGreaterThan(0.8);
    expect(variance / ((2 * k * k) / 3)).toBeLessThan(1.2);
    cell.dispose();
  });

  it("'uniform' keeps the standard forget bias exact: preset '-' starts the forget block at forgetBias", () => {
    const cell = buildCell(URLSTM, { units: d, preset: '-', forgetBias: 1.5 }, { inputSize: 10, seed: 5 });
    const b = values(cell, 'bias');
    expect(b.slice(0, d).every((v) => v === 1.5)).toBe(true);
    expect(b.slice(d).some((v) => v !== 0)).toBe(true);
    cell.dispose();
  });

  it("'glorot': orthogonal recurrent block per gate (R Rᵀ = 4I for the four LSTM blocks) and zero bias", () => {
    const cell = buildCell(URLSTM, { units: 8, weightInit: 'glorot' }, { inputSize: 3, seed: 5 });
    const R = tf.tensor2d(values(cell, 'recurrent'), [8, 32]);
    const rrt = tf.matMul(R, R, false, true).arraySync() as number[][];
    rrt.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(i === j ? 4 : 0, 4)));
    expect(values(cell, 'bias').every((v) => v === 0)).toBe(true);
    R.dispose();
    cell.dispose();
  });
});

describe('refine gate', () => {
  it('g lies in [f², 1 − (1 − f)²] for random f, r, with the bounds reached at r = 0 and r = 1', () => {
    const rng = createRng(21);
    const n = 4000;
    // f, r over (0, 1) including values near saturation (logits up to ±12)
    const zf = Array.from({ length: n }, (_, k) => (k % 4 === 0 ? rng.uniform(-12, 12) : rng.uniform(-4, 4)));
    const zr = Array.from({ length: n }, () => rng.uniform(-8, 8));
    const [f, r, g] = tf.tidy(() => {
      const fT = tf.sigmoid(tf.tensor2d(zf, [1, n])) as tf.Tensor2D;
      const rT = tf.sigmoid(tf.tensor2d(zr, [1, n])) as tf.Tensor2D;
      return [fT.dataSync(), rT.dataSync(), refineGate(fT, rT).dataSync()];
    });
    for (let k = 0; k < n; k++) {
      const lo = f[k] * f[k];
      const hi = 1 - (1 - f[k]) ** 2;
      expect(g[k], `f=${f[k]} r=${r[k]}`).toBeGreaterThanOrEqual(lo - 1e-6);
      expect(g[k], `f=${f[k]} r=${r[k]}`).toBeLessThanOrEqual(hi + 1e-6);
    }
    const [g0, g1] = tf.tidy(() => {
      const fT = tf.tensor2d([0.1, 0.5, 0.9], [1, 3]);
      return [refineGate(fT, tf.zerosLike(fT)).dataSync(), refineGate(fT, tf.onesLike(fT)).dataSync()];
    });
    [0.01, 0.25, 0.81].forEach((v, k) => expect(g0[k]).toBeCloseTo(v, 6));
    [0.19, 0.75, 0.99].forEach((v, k) => expect(g1[k]).toBeCloseTo(v, 6)); // f = 0.9 reaches g = 0.99 (§2.3)
  });
});

describe('cumax', () => {
  it('is monotone non-decreasing in [0, 1] and ends at 1', () => {
    const v = tf.tidy(() => cumax(tf.tensor2d([[0.3, -2, 1.5, 0, 4, -1]])).dataSync());
    for (let k = 1; k < v.length; k++) expect(v[k]).toBeGreaterThanOrEqual(v[k - 1]);
    expect(v[0]).toBeGreaterThan(0);
    expect(v[v.length - 1]).toBeCloseTo(1, 6);
  });
});
