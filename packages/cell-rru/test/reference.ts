/**
 * An independent plain-JS RRU from the paper's equations 1–6 (normalisation as the
 * authors' code: v / sqrt(mean(v²) + 1e-6) for 'rms'), for checking the tf cell.
 */
import { createRng } from '@cellstack/core';
import { ref, sigmoid } from '@cellstack/core/testing';
import type { RRUNormalize } from '../src/index.js';

export interface Weights {
  Wx: number[][];
  Wh: number[][];
  bj: number[];
  Wk: number[][][];
  bk: number[][];
  Wco: number[][];
  bco: number[];
  S: number[];
  Z: number[];
}

const relu = (v: number[]) => v.map((a) => Math.max(0, a));

function normalizeRef(v: number[], kind: RRUNormalize): number[] {
  if (kind === 'none') return v;
  const ss = v.reduce((a, b) => a + b * b, 0);
  const denom = Math.sqrt((kind === 'rms' ? ss / v.length : ss) + 1e-6);
  return v.map((a) => a / denom);
}

/** One step; `pre` lists every ReLU input (to keep gradient checks away from kinks). */
export function stepRef(w: Weights, x: number[], h: number[], kind: RRUNormalize, sScale: number) {
  const n = h.length;
  const pre: number[] = [];
  let a = normalizeRef(ref.add(ref.vecMat(x, w.Wx), ref.vecMat(h, w.Wh), w.bj), kind);
  pre.push(...a);
  let j = relu(a);
  w.Wk.forEach((Wk, k) => {
    a = ref.add(ref.vecMat(j, Wk), w.bk[k]);
    pre.push(...a);
    j = relu(a);
  });
  const co = ref.add(ref.vecMat(j, w.Wco), w.bco);
  const c = co.slice(0, n);
  const o = co.slice(n);
  const z = w.Z.length === 1 ? c.map(() => w.Z[0]) : w.Z;
  const hNext = ref.add(ref.mul(w.S.map((s) => sigmoid(sScale * s)), h), ref.mul(z, c));
  return { o, h: hNext, c, pre };
}

/** Smallest |ReLU input| over a whole batch of sequences. */
export function kinkMargin(w: Weights, x: number[][][], h0: number[][], kind: RRUNormalize, sScale: number): number {
  let margin = Infinity;
  x.forEach((seq, b) => {
    let h = h0[b];
    for (const xt of seq) {
      const r = stepRef(w, xt, h, kind, sScale);
      for (const p of r.pre) margin = Math.min(margin, Math.abs(p));
      h = r.h;
    }
  });
  return margin;
}

const mat = (rng: ReturnType<typeof createRng>, rows: number, cols: number, s: number) =>
  Array.from({ length: rows }, () => Array.from({ length: cols }, () => rng.uniform(-s, s)));
const vec = (rng: ReturnType<typeof createRng>, k: number, s: number) => Array.from({ length: k }, () => rng.uniform(-s, s));

/** Random "trained-looking" weights (non-zero biases and Z) for sizes m, n, g, p. */
export function randomWeights(sizes: { m: number; n: number; g: number; p: number }, reluLayers: number, singleZ: boolean, seed: number): Weights {
  const { m, n, g, p } = sizes;
  const rng = createRng(seed);
  return {
    Wx: mat(rng, m, g, 0.6),
    Wh: mat(rng, n, g, 0.6),
    bj: vec(rng, g, 0.2),
    Wk: Array.from({ length: reluLayers - 1 }, () => mat(rng, g, g, 0.6)),
    bk: Array.from({ length: reluLayers - 1 }, () => vec(rng, g, 0.2)),
    Wco: mat(rng, g, n + p, 0.6),
    bco: vec(rng, n + p, 0.2),
    S: vec(rng, n, 0.3),
    Z: singleZ ? [0.7] : vec(rng, n, 0.9),
  };
}

/** The weights as buildCell values, by the cell's parameter names. */
export const asValues = (w: Weights) => ({
  Wx: w.Wx,
  Wh: w.Wh,
  bj: w.bj,
  ...Object.fromEntries(w.Wk.flatMap((Wk, k) => [[`Wk${k + 1}`, Wk], [`bk${k + 1}`, w.bk[k]]])),
  Wco: w.Wco,
  bco: w.bco,
  S: w.S,
  Z: w.Z,
});
