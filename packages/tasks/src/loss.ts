import * as tf from '@tensorflow/tfjs-core';
import type { Task } from './task.js';

export interface HeadOptions {
  /** The model ends in a linear layer: apply the softmax inside the loss (stabler). */
  fromLogits?: boolean;
}

type Fn = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;

/** Keep only the last `k` steps of a [B, T, C] tensor (the scored outputs). */
const lastSteps = (t: tf.Tensor, k: number | undefined) =>
  k === undefined ? t : tf.slice(t, [0, t.shape[1]! - k, 0], [-1, k, -1]);

/**
 * The task's loss as a tfjs loss function: mean categorical cross-entropy or MSE over the
 * scored outputs (every step, or only the last `scoredSteps`). A scalar, so its value is
 * the figure the papers report and the baseline refers to.
 */
export function taskLoss(task: Task, { fromLogits = false }: HeadOptions = {}): Fn {
  const k = task.perStep ? task.scoredSteps : undefined;
  if (task.loss === 'meanSquaredError') {
    return (yTrue, yPred) => tf.tidy(() => tf.mean(tf.squaredDifference(lastSteps(yTrue, k), lastSteps(yPred, k))));
  }
  const masked = task.padded && task.perStep;
  return (yTrue, yPred) =>
    tf.tidy(() => {
      const p = lastSteps(yPred, k);
      const logp = fromLogits ? tf.logSoftmax(p) : tf.log(tf.clipByValue(p, 1e-7, 1));
      const perStep = tf.sum(tf.mul(lastSteps(yTrue, k), logp), -1);
      // Padded steps have all-zero targets: they add nothing, and the mean is over real steps.
      return tf.neg(masked ? tf.div(tf.sum(perStep), tf.maximum(tf.sum(realSteps(lastSteps(yTrue, k))), 1)) : tf.mean(perStep));
    });
}

/** 1 where a per-step target is a class (a real step), 0 where it is all zeros (padding). */
const realSteps = (yTrue: tf.Tensor) => tf.cast(tf.greater(tf.sum(yTrue, -1), 0), 'float32');

/** In-graph metrics (computed in the same pass as the loss), named by the function. */
export function taskMetrics(task: Task): Fn[] {
  const k = task.perStep ? task.scoredSteps : undefined;
  if (!task.metrics.includes('accuracy')) return [];
  const masked = task.padded && task.perStep;
  const accuracy: Fn = (yTrue, yPred) =>
    tf.tidy(() => {
      const hit = tf.cast(tf.equal(tf.argMax(lastSteps(yTrue, k), -1), tf.argMax(lastSteps(yPred, k), -1)), 'float32');
      if (!masked) return tf.mean(hit);
      const real = realSteps(lastSteps(yTrue, k));
      return tf.div(tf.sum(tf.mul(hit, real)), tf.maximum(tf.sum(real), 1));
    });
  return [accuracy];
}

/** Metrics that follow from the loss alone (bits per character for language models). */
export function derivedMetrics(task: Task, loss: number): Record<string, number> {
  return task.metrics.includes('bpc') ? { bpc: loss / Math.LN2 } : {};
}
