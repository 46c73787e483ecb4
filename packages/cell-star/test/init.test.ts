import { describe, expect, it } from 'vitest';
import { createRng } from '@cellstack/core';
import { buildCell, sigmoid } from '@cellstack/core/testing';
import { CODE_TMAX, STAR, gateBiasInit, resolveTmax } from '../src/index.js';

const N = 20000;
const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;
const sorted = (a: ArrayLike<number>) => Array.from(a).sort((p, q) => p - q);
/** Largest gap between the empirical CDF of `a` and the CDF of U(lo, hi) (Kolmogorov–Smirnov statistic). */
function ksUniform(a: ArrayLike<number>, lo: number, hi: number): number {
  const s = sorted(a);
  return Math.max(...s.map((v, i) => Math.max(Math.abs((i + 1) / s.length - (v - lo) / (hi - lo)), Math.abs(i / s.length - (v - lo) / (hi - lo)))));
}
// KS critical value at α = 0.001 for n = 20000: 1.95 / √n ≈ 0.0138.
const KS = 1.95 / Math.sqrt(N);

describe('STAR chrono initialisation', () => {
  it('paper: b_k = −log U(1, tmax − 1), so k = σ(b_k) starts small (retention τ/(1+τ))', () => {
    const tmax = 100;
    const b = gateBiasInit({ variant: 'paper', chrono: true, tmax })([N], createRng(3));
    const tau = b.map((v) => Math.exp(-v));
    expect(Math.min(...tau)).toBeGreaterThanOrEqual(1 - 1e-4);
    expect(Math.max(...tau)).toBeLessThanOrEqual(tmax - 1 + 1e-3);
    expect(ksUniform(tau, 1, tmax - 1)).toBeLessThan(KS);
    const k = Array.from(b, sigmoid);
    expect(Math.max(...k)).toBeLessThanOrEqual(0.5 + 1e-6);
    // median τ ≈ 50 → median k ≈ 1/51
    expect(sorted(k)[N / 2]).toBeCloseTo(1 / 51, 2);
  });

  it("official: b_K = +log U(1, tmax) on the code's retention gate σ(f)", () => {
    const b = gateBiasInit({ variant: 'official', chrono: true, tmax: CODE_TMAX })([N], createRng(3));
    const tau = b.map(Math.exp);
    expect(Math.min(...tau)).toBeGreaterThanOrEqual(1 - 1e-4);
    expect(Math.max(...tau)).toBeLessThanOrEqual(CODE_TMAX + 1e-2);
    expect(ksUniform(tau, 1, CODE_TMAX)).toBeLessThan(KS);
    expect(mean(tau)).toBeCloseTo((1 + CODE_TMAX) / 2, -1);
    // the new-content weight 1 − σ(b_K − 1) is small too
    expect(mean(Array.from(b, (v) => 1 - sigmoid(v - 1)))).toBeLessThan(0.05);
  });

  it('without chrono: b_k = 0 (paper), b_K = 1 (code)', () => {
    expect(Array.from(gateBiasInit({ variant: 'paper', chrono: false, tmax: 10 })([4], createRng(1)))).toEqual([0, 0, 0, 0]);
    expect(Array.from(gateBiasInit({ variant: 'official', chrono: false, tmax: 10 })([4], createRng(1)))).toEqual([1, 1, 1, 1]);
  });

  it("tmax defaults to the input's timesteps, else 784", () => {
    expect(resolveTmax(null, 50)).toBe(50);
    expect(resolveTmax(null, null)).toBe(784);
    expect(resolveTmax(20, 50)).toBe(20);
    const cell = buildCell(STAR, { units: 64 }, { inputSize: 1, timesteps: 12 });
    const bk = Array.from(cell.params.bias.dataSync()).slice(64);
    expect(Math.min(...bk)).toBeGreaterThanOrEqual(-Math.log(11) - 1e-5);
    cell.dispose();
  });

  it('b_z = 0, the gate half of the bias is chrono, the weights are orthogonal', () => {
    const H = 16;
    const cell = buildCell(STAR, { units: H, tmax: 784 }, { inputSize: 3 });
    const bias = Array.from(cell.params.bias.dataSync());
    expect(bias.slice(0, H)).toEqual(new Array(H).fill(0));
    expect(Math.min(...bias.slice(H))).toBeLessThan(-1);
    const W = cell.params.recurrent.arraySync() as number[][];
    for (let i = 0; i < H; i++) for (let j = 0; j < H; j++) {
      const dot = W.reduce((s, row) => s + row[i] * row[j], 0);
      expect(dot).toBeCloseTo(i === j ? 1 : 0, 4);
    }
    // kernel [3, 2H]: each block [3, H] has orthonormal rows (semi-orthogonal, in < H)
    const K = cell.params.kernel.arraySync() as number[][];
    for (const off of [0, H]) for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) {
      const dot = K[a].slice(off, off + H).reduce((s, v, c) => s + v * K[b][off + c], 0);
      expect(dot).toBeCloseTo(a === b ? 1 : 0, 4);
    }
    cell.dispose();
  });
});
