/**
 * copy-200 (`cellstack reproduce ur`: the same spec, seed and batches batchRng(seed, step)) under
 * the optimiser settings of r0mainK/ur-lstm's copy task that cellstack's run does not share:
 *   CLIP=all|cells  clip_grad_norm_(1) over every variable (cellstack) or the LSTM's only (r0mainK)
 *   WD=0|0.01       AdamW's decoupled weight decay (r0mainK: torch.optim.AdamW, default 0.01)
 *   OUT=9|10        the head's width (r0mainK: Linear(hidden → 10)); KEEP9=1 keeps the 9-wide head's
 *                   draw in the first 9 columns, so that only the extra class differs
 * Prints 100-step means, then one JSON line: the final loss (mean of the last 300 steps), its % of
 * ln 8 and the first 100-step window below 0.9·ln 8.
 *
 *   CLIP=cells npx tsx --conditions=@cellstack/source tools/paper/torch/ur-settings.ts URLSTM|URGRU|LSTM SEED [steps=3000] [lag=200] [units=64]
 */
import * as tf from '@tensorflow/tfjs-core';
import { createOptimizer, createRng, createRuntime, hashSeed, setTrainingStep, type ClipScope } from '@cellstack/core';
import { cells } from '@cellstack/cell-ur';
import { taskLoss, urCopyTask } from '@cellstack/tasks';

const [arm, seedA, stepsA = '3000', lagA = '200', unitsA = '64'] = process.argv.slice(2);
const seed = Number(seedA), steps = Number(stepsA), lag = Number(lagA), units = Number(unitsA);
const clipScope = (process.env.CLIP ?? 'all') as ClipScope;
const wd = Number(process.env.WD ?? 0), out = Number(process.env.OUT ?? 9);
const cell = { URLSTM: { cell: 'URLSTM', options: { units } }, URGRU: { cell: 'URGRU', options: { units } }, LSTM: { cell: 'URLSTM', options: { units, preset: '-' } } }[arm];
if (!cell) throw new Error(`arm must be URLSTM | URGRU | LSTM (got ${arm})`);

const runtime = await createRuntime({ backend: 'wasm', cells });
const task = urCopyTask({ lag });
const model = runtime.build({ input: { shape: [null, 10] }, layers: [cell, { type: 'dense', units: out, activation: 'softmax', init: 'uniform' }], seed });
// KEEP9=1 (with OUT=10): the head's first 9 columns as the 9-wide head draws them, so the extra class alone differs.
if (process.env.KEEP9 && out > 9) {
  const narrow = runtime.build({ input: { shape: [null, 10] }, layers: [cell, { type: 'dense', units: 9, activation: 'softmax', init: 'uniform' }], seed });
  const [k9, b9] = narrow.layers.at(-1)!.getWeights();
  const head = model.layers.at(-1)!;
  const [k, b] = head.getWeights();
  const widen = (w9: tf.Tensor, w: tf.Tensor) => tf.concat([w9, tf.slice(w, w.shape.map((d, i) => (i === w.shape.length - 1 ? 9 : 0)), w.shape.map((d, i) => (i === w.shape.length - 1 ? d - 9 : d)))], -1);
  head.setWeights([widen(k9, k), widen(b9, b)]);
  narrow.dispose();
}
const loss = taskLoss(task);
const optimizer = createOptimizer(model, { name: 'adam', learningRate: 1e-3, clipNorm: 1, clipScope });
// The global norm of every step (before clipping): how often clipping acts at all.
optimizer.trackNorm = true;
model.compile({ optimizer, loss });
const lr = 1e-3;
const ln8 = Math.log(8);
const means: number[] = [];
let acc = 0, tail = 0, over = 0;
for (let s = 0; s < steps; s++) {
  const b = task.batch(10, createRng(hashSeed(seed, 'train', s + 1)), 'train');
  const x = tf.tensor3d(b.x, b.xShape);
  // A 10-wide head scores the same classes: the target gets a zero 10th column (class 9, the cue, is never a target).
  const y = tf.tidy(() => tf.pad(tf.tensor(b.y, b.yShape), [[0, 0], [0, 0], [0, out - 9]]));
  setTrainingStep(s + 1);
  const l = (await model.trainOnBatch(x, y)) as number;
  setTrainingStep(undefined);
  tf.dispose([x, y]);
  // AdamW's decoupled decay w ← w − lr·wd·w on every variable (PyTorch decays before the update; after differs by lr·wd·update).
  if (wd > 0) for (const w of model.trainableWeights) tf.tidy(() => void w.write(tf.mul(w.read(), 1 - lr * wd)));
  acc += l;
  if ((optimizer.lastGradNorm ?? 0) > 1) over++;
  if (s >= steps - 300) tail += l;
  if (s % 100 === 99) {
    means.push(acc / 100);
    console.log(`step ${s + 1}: ${(acc / 100).toFixed(4)}`);
    acc = 0;
  }
}
const final = tail / Math.min(300, steps);
const first = means.findIndex((m) => m < 0.9 * ln8);
console.log(JSON.stringify({ arm, seed, clipScope, wd, out, lag, units, steps, final: +final.toFixed(4), pct: +((100 * final) / ln8).toFixed(1), firstBelow: first < 0 ? null : `${first * 100 + 1}-${first * 100 + 100}`, normOver1: +(over / steps).toFixed(3) }));
