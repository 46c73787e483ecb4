import { expect } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import type { Batch, Task } from '@cellstack/tasks';
import { taskLoss } from '@cellstack/tasks';

/** The symbol (argmax of a one-hot row) at row `r` of a [.., depth] array. */
export const symbolAt = (a: Float32Array, r: number, depth: number) => {
  const row = Array.from(a.subarray(r * depth, (r + 1) * depth));
  expect(row.filter((v) => v === 1)).toHaveLength(1);
  expect(row.filter((v) => v !== 0 && v !== 1)).toHaveLength(0);
  return row.indexOf(1);
};

/** Sequence of symbols of example b in a one-hot [B, T, depth] array. */
export const symbols = (a: Float32Array, b: number, T: number, depth: number) =>
  Array.from({ length: T }, (_, t) => symbolAt(a, b * T + t, depth));

/** The task's own loss for a prediction array shaped like the target. */
export function lossOf(task: Task, batch: Batch, pred: Float32Array): number {
  return tf.tidy(() => taskLoss(task)(tf.tensor(batch.y, batch.yShape), tf.tensor(pred, batch.yShape)).dataSync()[0]);
}
