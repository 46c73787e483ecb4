import { CellstackError } from '@cellstack/core';
import { integer, taskOptions } from './options.js';
import type { Task, TaskEntry } from './task.js';

export interface AddingOptions {
  /** Sequence length T. */
  length?: number;
}

export interface AddingHSOptions extends AddingOptions {
  /** 'fixed': every sequence has `length` steps; 'drawn': L ~ U{T..T+⌈T/10⌉} per sequence, as the DMU code draws it. */
  lengths?: 'fixed' | 'drawn';
  /** With drawn lengths, the padded length of every batch (default T + ⌈T/10⌉, the longest possible). */
  padTo?: number;
}

const addingSchema = {
  type: 'object',
  properties: { length: integer(2, 'Sequence length T (STAR default 200; UR 2000).', 200) },
  additionalProperties: false,
};

/**
 * Adding problem as in the STAR/UR code (Le et al. 2015): x ∈ R^{T×2}, values U(0,1),
 * marker 1 at one index in [0, T/2) and one in [T/2, T); target the sum of the two
 * marked values at the last step; MSE; baseline Var = 1/6.
 */
export function addingTask(options: AddingOptions = {}): Task {
  const o = taskOptions<Required<AddingOptions>>(addingSchema, options);
  const T = o.length;
  const half = Math.floor(T / 2);
  return {
    name: 'adding',
    description: `adding problem, length ${T} (U(0,1) values, two markers)`,
    options: o,
    inputShape: [T, 2],
    outputs: 1,
    perStep: false,
    loss: 'meanSquaredError',
    baseline: 1 / 6,
    metrics: [],
    batch(B, rng) {
      const x = new Float32Array(B * T * 2);
      const y = new Float32Array(B);
      for (let b = 0; b < B; b++) {
        for (let t = 0; t < T; t++) x[(b * T + t) * 2] = rng.next();
        const i = rng.int(half);
        const j = half + rng.int(T - half);
        x[(b * T + i) * 2 + 1] = 1;
        x[(b * T + j) * 2 + 1] = 1;
        y[b] = x[(b * T + i) * 2] + x[(b * T + j) * 2];
      }
      return { x, xShape: [B, T, 2], y, yShape: [B, 1] };
    },
  };
}

const addingHSSchema = {
  type: 'object',
  properties: {
    length: integer(8, 'Sequence length L (the DMU minimum length T, default 100).', 100),
    lengths: {
      enum: ['fixed', 'drawn'],
      default: 'fixed',
      description: "'fixed': every sequence is `length` long; 'drawn': per sequence L ~ U{T..T+ceil(T/10)} as the DMU code draws it, zero-padded at the end with a mask.",
    },
    padTo: { type: 'integer', minimum: 8, description: "With lengths: drawn, pad every batch to this many steps (default T + ceil(T/10), the longest drawn length)." },
  },
  additionalProperties: false,
};

/**
 * Adding problem of Hochreiter & Schmidhuber (1997, exp. 4) as the DMU code generates
 * it (fuine/dmu data/addition_sequence.py): values U(−1, 1), first mark in the first
 * min(10, L−1) steps, second in the first half, marks[0] = marks[L−1] = −1, X_i = value
 * unless the mark sits at index 0, target 0.5 + (X1 + X2)/4. With `lengths: 'fixed'`
 * every sequence has L = `length` steps; with 'drawn', L ~ U{T..T+⌈T/10⌉} per sequence
 * (the authors' generator) and the batch is zero-padded at the end, with its mask, to
 * `padTo` steps (a real step is never all zeros: its value is U(−1, 1)). Baseline
 * Var(y) ≈ 0.0394 (Monte Carlo, T = 100).
 */
export function addingHSTask(options: AddingHSOptions = {}): Task {
  const o = taskOptions<Required<AddingHSOptions>>(addingHSSchema, options);
  const T = o.length;
  const drawn = o.lengths === 'drawn';
  const longest = drawn ? T + Math.ceil(T / 10) : T;
  const P = drawn ? (o.padTo ?? longest) : T;
  if (o.padTo !== undefined && !drawn) throw new CellstackError('task.padTo', "only applies with lengths: drawn (fixed-length sequences are not padded)");
  if (P < longest) throw new CellstackError('task.padTo', `must be at least the longest drawn length ${longest} (T + ceil(T/10)), got ${P}`);
  return {
    name: 'adding-hs',
    description: drawn
      ? `adding problem (Hochreiter & Schmidhuber 1997, DMU generator), lengths ${T}..${longest} padded to ${P}`
      : `adding problem (Hochreiter & Schmidhuber 1997, DMU variant), length ${T}`,
    options: o,
    inputShape: [P, 2],
    outputs: 1,
    perStep: false,
    loss: 'meanSquaredError',
    baseline: 0.0394,
    metrics: [],
    ...(drawn ? { padded: true } : {}),
    batch(B, rng) {
      const x = new Float32Array(B * P * 2);
      const y = new Float32Array(B);
      const mask = new Float32Array(B * P);
      for (let b = 0; b < B; b++) {
        const L = drawn ? T + rng.int(longest - T + 1) : T;
        mask.fill(1, b * P, b * P + L);
        for (let t = 0; t < L; t++) x[(b * P + t) * 2] = rng.uniform(-1, 1);
        const first = rng.int(Math.min(10, L - 1));
        let second = first;
        while (second === first) second = rng.int(Math.floor(L / 2 - 1));
        const marks = new Float32Array(L);
        marks[first] = 1;
        marks[second] = 1;
        marks[0] = -1;
        marks[L - 1] = -1;
        for (let t = 0; t < L; t++) x[(b * P + t) * 2 + 1] = marks[t];
        const X = (i: number) => (i > 0 ? x[(b * P + i) * 2] : 0);
        y[b] = 0.5 + (X(first) + X(second)) / 4;
      }
      return { x, xShape: [B, P, 2], y, yShape: [B, 1], ...(drawn ? { mask } : {}) };
    },
  };
}

export const addingEntries: TaskEntry[] = [
  { name: 'adding', description: 'adding problem: sum of two marked U(0,1) values (STAR/UR code), MSE', schema: addingSchema, positional: ['length'], create: addingTask },
  { name: 'adding-hs', description: 'adding problem of Hochreiter & Schmidhuber 1997 as in the DMU code, MSE', schema: addingHSSchema, positional: ['length'], create: addingHSTask as (o?: Record<string, unknown>) => Task },
];
