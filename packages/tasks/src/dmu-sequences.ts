import { CellstackError } from '@cellstack/core';
import { integer, oneHot, taskOptions } from './options.js';
import type { Task, TaskEntry } from './task.js';

export interface TemporalOrderOptions {
  /** Sequence length L (default 100). */
  length?: number;
}

const orderSchema = {
  type: 'object',
  properties: { length: integer(30, 'Sequence length L (the DMU minimum length T, default 100).', 100) },
  additionalProperties: false,
};

/**
 * Temporal order (Hochreiter & Schmidhuber 1997 exp. 6b, DMU data/order_sequence.py):
 * noise symbols 0..3, start 4 at step 0, end 5 at the last step, and three relevant
 * symbols X = 6 / Y = 7 at U[m, 2m), U[3m+3, 4m+3), U[6m+6, 7m+6) with m = ⌈L/10⌉;
 * class 4·s1 + 2·s2 + s3 (8 classes) at the last step. Baseline ln 8. The DMU draws the
 * length per sample from U{T..T+⌈T/10⌉}; here it is fixed, so models keep a fixed input.
 */
export function temporalOrderTask(options: TemporalOrderOptions = {}): Task {
  const o = taskOptions<Required<TemporalOrderOptions>>(orderSchema, options);
  const L = o.length;
  const m = Math.ceil(L / 10);
  if (7 * m + 6 > L - 1) throw new CellstackError('task.length', `is too short for three windows of ${m} steps (got ${L})`);
  const windows = [m, 3 * m + 3, 6 * m + 6];
  return {
    name: 'temporal-order',
    description: `temporal order, length ${L}, 8 classes (Hochreiter & Schmidhuber exp. 6b, DMU)`,
    options: o,
    inputShape: [L, 8],
    outputs: 8,
    perStep: false,
    loss: 'categoricalCrossentropy',
    baseline: Math.log(8),
    metrics: ['accuracy'],
    batch(B, rng) {
      const x = new Float32Array(B * L * 8);
      const y = new Float32Array(B * 8);
      for (let b = 0; b < B; b++) {
        const seq = Array.from({ length: L }, () => rng.int(4));
        seq[0] = 4;
        seq[L - 1] = 5;
        let label = 0;
        for (const start of windows) {
          const s = rng.int(2);
          seq[start + rng.int(m)] = 6 + s;
          label = label * 2 + s;
        }
        seq.forEach((v, t) => oneHot(x, b * L + t, 8, v));
        oneHot(y, b, 8, label);
      }
      return { x, xShape: [B, L, 8], y, yShape: [B, 8] };
    },
  };
}

export interface NoisySequenceOptions {
  /** Sequence length (default 100). */
  length?: number;
  /** Alphabet size p (default 100). */
  symbols?: number;
}

const noisySchema = {
  type: 'object',
  properties: {
    length: integer(2, 'Sequence length (DMU guild seq-len: 100).', 100),
    symbols: integer(3, 'Alphabet size p; the first step holds p−2 or p−1, the rest 0..p−3 (DMU: 100).', 100),
  },
  additionalProperties: false,
};

/**
 * Noisy sequence (DMU exp. 2b, data/noisy_sequence.py): x[0] ~ U{p−2, p−1}, then noise
 * U{0..p−3}; one-hot depth p; the class at the last step is x[0]. Baseline ln 2.
 */
export function noisySequenceTask(options: NoisySequenceOptions = {}): Task {
  const o = taskOptions<Required<NoisySequenceOptions>>(noisySchema, options);
  const { length: L, symbols: p } = o;
  return {
    name: 'noisy-sequence',
    description: `noisy sequence, length ${L}, ${p} symbols: recall the first one (DMU exp. 2b)`,
    options: o,
    inputShape: [L, p],
    outputs: p,
    perStep: false,
    loss: 'categoricalCrossentropy',
    baseline: Math.log(2),
    metrics: ['accuracy'],
    batch(B, rng) {
      const x = new Float32Array(B * L * p);
      const y = new Float32Array(B * p);
      for (let b = 0; b < B; b++) {
        const first = p - 2 + rng.int(2);
        oneHot(x, b * L, p, first);
        for (let t = 1; t < L; t++) oneHot(x, b * L + t, p, rng.int(p - 2));
        oneHot(y, b, p, first);
      }
      return { x, xShape: [B, L, p], y, yShape: [B, p] };
    },
  };
}

export const dmuEntries: TaskEntry[] = [
  { name: 'temporal-order', description: 'temporal order of three relevant symbols, 8 classes (DMU exp. 6b)', schema: orderSchema, positional: ['length'], create: temporalOrderTask },
  { name: 'noisy-sequence', description: 'recall the first symbol after a noisy sequence (DMU exp. 2b)', schema: noisySchema, positional: ['length', 'symbols'], create: noisySequenceTask },
];
