/**
 * Shared training loop for paper checks and benchmarks: train an IR on a task for a
 * fixed budget, seeded, recording the loss of every step.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createOptimizer, createRng, type ModelIR, type OptimizerOptions, type Runtime } from '@cellstack/core';
import { taskLoss, toTensors, type Task } from '@cellstack/tasks';

export interface RunSpec {
  /** Layers between the input and the head; the task's head (dense per step or after `last`) is appended. */
  layers: ModelIR['layers'];
  task: Task;
  steps: number;
  batch: number;
  optimizer?: OptimizerOptions;
  seed: number;
  /** Stop early once the loss (mean of the last 10 steps) is below this. */
  stopBelow?: number;
  /** Called after each step (progress printing). */
  onStep?: (step: number, loss: number) => void;
}

export interface RunResult {
  losses: number[];
  params: number;
  seconds: number;
  stepsPerSecond: number;
}

/** The full IR for a task: input shape, the given layers, and the task's head. */
export function taskIR(task: Task, layers: ModelIR['layers'], seed: number): ModelIR {
  const head: ModelIR['layers'] = task.perStep
    ? [{ type: 'dense', units: task.outputs, activation: task.loss === 'categoricalCrossentropy' ? 'softmax' : 'linear' }]
    : [{ type: 'last' }, { type: 'dense', units: task.outputs, activation: task.loss === 'categoricalCrossentropy' ? 'softmax' : 'linear' }];
  return { input: { shape: task.inputShape }, layers: [...layers, ...head], seed };
}

export async function trainRun(rt: Runtime, spec: RunSpec): Promise<RunResult> {
  const model = rt.build(taskIR(spec.task, spec.layers, spec.seed));
  // taskLoss scores only the steps a task scores (e.g. the UR copy variant's last 10).
  model.compile({ optimizer: createOptimizer(model, spec.optimizer ?? { learningRate: 1e-3, clipNorm: 1 }), loss: taskLoss(spec.task) });
  const rng = createRng(spec.seed + 1000);
  const losses: number[] = [];
  const t0 = performance.now();
  for (let step = 0; step < spec.steps; step++) {
    const { x, y } = toTensors(spec.task.batch(spec.batch, rng));
    const loss = (await model.trainOnBatch(x, y)) as number;
    tf.dispose([x, y]);
    losses.push(loss);
    spec.onStep?.(step, loss);
    if (spec.stopBelow !== undefined && losses.length >= 10 && mean(losses.slice(-10)) < spec.stopBelow) break;
  }
  const seconds = (performance.now() - t0) / 1000;
  const params = model.countParams();
  model.dispose();
  return { losses, params, seconds, stepsPerSecond: losses.length / seconds };
}

export const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;

export function quantile(a: number[], q: number): number {
  const s = [...a].sort((x, y) => x - y);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (pos - lo);
}

/** Moving average with a window, for readable loss curves. */
export function smooth(a: number[], window = 20): number[] {
  return a.map((_, i) => mean(a.slice(Math.max(0, i - window + 1), i + 1)));
}

/** First step at which the smoothed loss falls below `threshold`, or null. */
export function stepsToReach(losses: number[], threshold: number, window = 20): number | null {
  const s = smooth(losses, window);
  const i = s.findIndex((v) => v < threshold);
  return i < 0 ? null : i + 1;
}
