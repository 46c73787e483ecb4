/**
 * Dump a cellstack UR-LSTM training run for the step-by-step PyTorch comparison
 * (tools/paper/torch/ur_check.py): initial weights, batches, per-step loss, gradients
 * (tf.variableGrads) and weights after each trainOnBatch.
 *
 *   npx tsx --conditions=@cellstack/source tools/paper/torch/ur-dump.ts OUT.json [lag] [steps] [preset]
 */
import { promises as fs } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { createOptimizer, createRng, createRuntime } from '@cellstack/core';
import { cells } from '@cellstack/cell-ur';
import { urCopyTask, taskLoss } from '@cellstack/tasks';

const [out, lagArg, stepsArg, presetArg, backendArg] = process.argv.slice(2);
const lag = Number(lagArg ?? 200);
const steps = Number(stepsArg ?? 5);
const preset = presetArg ?? 'UR-';
const rt = await createRuntime({ backend: (backendArg ?? 'wasm') as 'wasm', cells });
const task = urCopyTask({ lag });
const [T, F] = task.inputShape as [number, number];
const model = rt.build({
  input: { shape: [T, F] },
  layers: [{ cell: 'URLSTM', options: { units: 64, preset } }, { type: 'dense', units: 9, activation: 'softmax' }],
  seed: 1,
});
const loss = taskLoss(task);
model.compile({ optimizer: createOptimizer(model, { learningRate: 1e-3, clipNorm: 1 }), loss });
const weights = () => Object.fromEntries(model.trainableWeights.map((w) => [w.name, { shape: w.shape, data: Array.from(w.read().dataSync()) }]));
const rng = createRng(1001);
const record: Record<string, unknown> = { lag, preset, backend: tf.getBackend(), weights0: weights(), steps: [] as unknown[] };
for (let s = 0; s < steps; s++) {
  const b = task.batch(10, rng);
  const x = tf.tensor3d(b.x, b.xShape);
  const y = tf.tensor(b.y, b.yShape);
  const { value, grads } = tf.variableGrads(() => loss(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar);
  const g = Object.fromEntries(Object.entries(grads).map(([k, t]) => [k, Array.from(t.dataSync())]));
  const v = value.dataSync()[0];
  tf.dispose([value, ...Object.values(grads)]);
  const l = (await model.trainOnBatch(x, y)) as number;
  (record.steps as unknown[]).push({ x: Array.from(b.x), loss: v, trainLoss: l, grads: g, after: weights() });
  tf.dispose([x, y]);
}
await fs.writeFile(out, JSON.stringify(record));
console.log('wrote', out, Object.keys(record.weights0 as object));
