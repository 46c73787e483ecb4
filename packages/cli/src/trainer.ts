import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { createOptimizer, createRng, hashSeed, setTrainingStep, type OptimizerName } from '@cellstack/core';
import { derivedMetrics, taskLoss, taskMetrics, type Task } from '@cellstack/tasks';

export interface TrainSettings {
  steps: number;
  batch: number;
  optimizer: OptimizerName;
  learningRate: number;
  clipNorm?: number;
  seed: number;
  checkpointEvery: number;
  valSize: number;
}

/** The activation object a tfjs Dense layer holds (private in its typings). */
interface Activated {
  activation: { getClassName(): string };
}

/**
 * Models whose dense softmax head trains on its logits: the cross-entropy of a softmax head
 * is taken as a log-softmax of the logits (as Keras and PyTorch do), not as the log of
 * clipped probabilities, whose gradient is exactly 0 once the true class has p < 1e-7.
 * Training and validation swap the head's activation for the identity while they run, so
 * predictions and saved models keep the softmax.
 */
const logitHeads = new WeakMap<LayersModel, Activated>();
const identity = () => {
  const [Linear] = tf.serialization.SerializationMap.getMap().classNameMap.linear;
  return new (Linear as unknown as new () => Activated['activation'])();
};

/** The model's last layer when it is a dense softmax head of a classification task. */
function softmaxHead(model: LayersModel, task: Task): Activated | undefined {
  const last = model.layers[model.layers.length - 1] as unknown as Partial<Activated> & { getClassName(): string };
  const softmax = last.getClassName() === 'Dense' && last.activation?.getClassName() === 'softmax';
  return task.loss === 'categoricalCrossentropy' && softmax ? (last as Activated) : undefined;
}

/** Run `fn` with the model's softmax head (if it trains on logits) reduced to its logits. */
async function onLogits<T>(model: LayersModel, fn: () => T | Promise<T>): Promise<T> {
  const head = logitHeads.get(model);
  if (!head) return fn();
  const softmax = head.activation;
  head.activation = identity();
  try {
    return await fn();
  } finally {
    head.activation = softmax;
  }
}

/**
 * Compile a model for a task: the task's loss (masked to the scored steps) and metrics.
 * `fromLogits`: the head is linear. A dense softmax head trains on its logits (see logitHeads).
 */
export function compileForTask(model: LayersModel, task: Task, s: TrainSettings, fromLogits: boolean) {
  const head = fromLogits ? undefined : softmaxHead(model, task);
  if (head) logitHeads.set(model, head);
  else logitHeads.delete(model);
  model.compile({
    optimizer: createOptimizer(model, { name: s.optimizer, learningRate: s.learningRate, clipNorm: s.clipNorm }),
    loss: taskLoss(task, { fromLogits: fromLogits || head !== undefined }),
    metrics: taskMetrics(task),
  });
}

/** The data of training step `step`: a pure function of (seed, step), so a resumed run sees the same batches. */
export const batchRng = (seed: number, step: number) => createRng(hashSeed(seed, 'train', step));

export interface StepResult {
  loss: number;
  metrics: Record<string, number>;
}

/** One optimisation step on the batch of `step`. Tensors are freed; the only reads are the scalars trainOnBatch returns. */
export async function trainStep(model: LayersModel, task: Task, s: TrainSettings, step: number): Promise<StepResult> {
  const b = task.batch(s.batch, batchRng(s.seed, step), 'train');
  const x = tf.tensor3d(b.x, b.xShape);
  const y = tf.tensor(b.y, b.yShape);
  let out: number | number[];
  // Dropout and zoneout masks are keyed by the step, so a resumed run draws the same ones.
  setTrainingStep(step);
  try {
    out = (await onLogits(model, () => model.trainOnBatch(x, y))) as number | number[];
  } finally {
    setTrainingStep(undefined);
    tf.dispose([x, y]);
  }
  const [loss, ...values] = Array.isArray(out) ? out : [out];
  const metrics: Record<string, number> = {};
  taskMetrics(task).forEach((fn, i) => (metrics[fn.name] = values[i]));
  return { loss, metrics: { ...metrics, ...derivedMetrics(task, loss) } };
}

/** Loss and metrics on `size` held-out examples (a seeded validation stream, or the dataset's validation split). */
export async function validate(model: LayersModel, task: Task, s: TrainSettings, fromLogits: boolean): Promise<{ examples: number; loss: number; metrics: Record<string, number> }> {
  const rng = createRng(hashSeed(s.seed, 'validation'));
  const lossFn = taskLoss(task, { fromLogits: fromLogits || logitHeads.has(model) });
  const metricFns = taskMetrics(task);
  let done = 0;
  let loss = 0;
  const sums: number[] = metricFns.map(() => 0);
  while (done < s.valSize) {
    const n = Math.min(s.batch, s.valSize - done);
    const b = task.batch(n, rng, 'validation');
    const stacked = await onLogits(model, () =>
      tf.tidy(() => {
        const x = tf.tensor3d(b.x, b.xShape);
        const y = tf.tensor(b.y, b.yShape);
        const pred = model.predict(x) as tf.Tensor;
        return tf.stack([lossFn(y, pred), ...metricFns.map((f) => f(y, pred))]);
      }),
    );
    // Read asynchronously: webgpu under Node has no synchronous readback.
    const values = await stacked.data();
    stacked.dispose();
    loss += values[0] * n;
    metricFns.forEach((_, i) => (sums[i] += values[i + 1] * n));
    done += n;
  }
  const metrics: Record<string, number> = {};
  metricFns.forEach((f, i) => (metrics[f.name] = sums[i] / done));
  return { examples: done, loss: loss / done, metrics: { ...metrics, ...derivedMetrics(task, loss / done) } };
}
