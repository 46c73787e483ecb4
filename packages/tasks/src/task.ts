import type { JsonSchema, Rng } from '@cellstack/core';

/** One batch of a task as plain typed arrays (x is always [B, T, F], batch-major). */
export interface Batch {
  x: Float32Array;
  xShape: [number, number, number];
  y: Float32Array;
  /** [B, T, C] when the target is per step, else [B, C]. */
  yShape: number[];
  /** [B, T]: 1 at real steps, 0 at padding (tasks with `padded`); per-step targets are all zeros at padding. */
  mask?: Float32Array;
}

export type TaskLoss = 'categoricalCrossentropy' | 'meanSquaredError';

/** Which part of a task's data a batch comes from. Synthetic tasks draw fresh data for both. */
export type Split = 'train' | 'validation';

/** A metric computed next to the loss: accuracy in-graph, bpc derived from the loss. */
export type MetricName = 'accuracy' | 'bpc';

/** A seeded benchmark with its loss and memoryless baseline. */
export interface Task {
  name: string;
  description: string;
  /** The options the task was created with, defaults filled in (JSON). */
  options: Record<string, unknown>;
  /** Per-example input shape [T, F]; T is null when the length changes from batch to batch. */
  inputShape: [number | null, number];
  /** Output units of the model's head. */
  outputs: number;
  /** Target at every step (head applied per step) or only at the end. */
  perStep: boolean;
  loss: TaskLoss;
  /**
   * Only the last `scoredSteps` outputs of a per-step task enter the loss and the metrics
   * (UR copy: 10, denoising: S); absent means every step counts.
   */
  scoredSteps?: number;
  /** Loss of the best predictor that remembers nothing (see research/reference-impls.md §6.10). */
  baseline: number;
  /** Metrics reported next to the loss. */
  metrics: MetricName[];
  /**
   * Sequences differ in length within a batch: they are padded (inputs all zeros at
   * padding, or token id 0) and each batch carries its mask. A spec reads them with
   * `masking(value: 0)` or `embedding(…, maskZero: true)`; per-step losses skip padding.
   */
  padded?: boolean;
  /** Examples in the training split of a fixed dataset (MNIST, text); absent for generators. */
  trainSize?: number;
  /** A batch drawn from `rng` (deterministic for a seed). */
  batch(size: number, rng: Rng, split?: Split): Batch;
}

/** A task the CLI and the DSL's training block can name: `task: copy(lag: 100)`. */
export interface TaskEntry {
  name: string;
  description: string;
  /** JSON Schema of the options (defaults from the papers' code, a description per option). */
  schema: JsonSchema & { properties: Record<string, JsonSchema> };
  /** Options that may be given without a name, in order (`copy(100)` = `copy(lag: 100)`). */
  positional?: string[];
  create(options?: Record<string, unknown>): Task;
}
