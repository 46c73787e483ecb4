/**
 * cellstack UR-LSTM(64) on copyUR(lag) with a chosen initialisation, for the PyTorch comparison.
 *   npx tsx --conditions=@cellstack/source tools/paper/torch/ur-cs-train.ts LAG STEPS SEED REDRAW(kernel,recurrent,bias,head|none) [preset]
 */
import * as tf from '@tensorflow/tfjs-core';
import { createOptimizer, createRng, createRuntime } from '@cellstack/core';
import { cells } from '@cellstack/cell-ur';
import { urCopyTask, taskLoss } from '@cellstack/tasks';

const [lagA, stepsA, seedA, redrawA, presetA] = process.argv.slice(2);
const lag = Number(lagA), steps = Number(stepsA), seed = Number(seedA);
const redraw = new Set((redrawA ?? 'none').split(','));
const rt = await createRuntime({ backend: 'wasm', cells });
const task = urCopyTask({ lag });
const model = rt.build({
  input: { shape: task.inputShape },
  layers: [
    { cell: process.env.CELL ?? 'URLSTM', options: { units: 64, preset: presetA ?? 'UR-', weightInit: process.env.WI ?? 'uniform' } },
    { type: 'dense', units: 9, activation: 'softmax', init: (process.env.HEAD ?? 'uniform') as 'uniform' },
  ],
  seed,
});
const rng = createRng(seed + 77);
const u = (shape: number[], k: number, n = 1) => {
  const a = new Float32Array(shape.reduce((p, q) => p * q, 1));
  for (let i = 0; i < a.length; i++) for (let j = 0; j < n; j++) a[i] += rng.uniform(-k, k);
  return tf.tensor(a, shape);
};
for (const w of model.trainableWeights) {
  const part = w.name.split('/').pop()!;
  const isHead = w.name.startsWith('dense');
  if ((isHead && redraw.has('head')) || (!isHead && redraw.has(part))) w.write(u(w.shape as number[], 1 / 8, part === 'bias' && !isHead ? 2 : 1));
}
model.compile({ optimizer: createOptimizer(model, { learningRate: 1e-3, clipNorm: 1 }), loss: taskLoss(task) });
const data = createRng(seed + 1000);
let acc = 0;
for (let s = 0; s < steps; s++) {
  const b = task.batch(10, data);
  const x = tf.tensor3d(b.x, b.xShape), y = tf.tensor(b.y, b.yShape);
  acc += (await model.trainOnBatch(x, y)) as number;
  tf.dispose([x, y]);
  if (s % 100 === 99) { console.log(`step ${s + 1}: ${(acc / 100).toFixed(4)}`); acc = 0; }
}
