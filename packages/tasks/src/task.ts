import type { Rng } from '@cellstack/core';

/** One batch of a task as plain typed arrays (time-major never: x is [B, T, F]). */
export interface Batch {
  x: Float32Array;
  xShape: [number, number, number];
  y: Float32Array;
  /** [B, T, C] when the target is per step, else [B, C]. */
  yShape: number[];
}

export type TaskLoss = 'categoricalCrossentropy' | 'meanSquaredError';

/** A seeded synthetic benchmark with its loss and memoryless baseline. */
export interface Task {
  name: string;
  description: string;
  /** Per-example input shape [T, F]. */
  inputShape: [number, number];
  /** Output units of the model's head. */
  outputs: number;
  /** Target at every step (head applied per step) or only at the end. */
  perStep: boolean;
  loss: TaskLoss;
  /** Loss of the best predictor that remembers nothing (see research/reference-impls.md §6.10). */
  baseline: number;
  /** A batch drawn from `rng` (deterministic for a seed). */
  batch(size: number, rng: Rng): Batch;
}

