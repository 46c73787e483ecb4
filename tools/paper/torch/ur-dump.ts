/**
 * Record a cellstack run exactly as `cellstack reproduce ur` trains UR-LSTM (the same model,
 * seed, batches batchRng(seed, step) and trainOnBatch), for the PyTorch comparison
 * (ur_check.py step by step, ur_train.py over the whole run): initial weights, the data
 * symbols of every step, the loss of every step, and for the first RECORD steps the
 * unclipped gradients (tf.variableGrads of the same loss) and the weights after the update.
 *
 *   npx tsx --conditions=@cellstack/source tools/paper/torch/ur-dump.ts OUT.json [seed=1] [lag=200] [steps=3000] [record=30]
 *
 * With FROM=OTHER.json (a dump, or ur_train.py --export) the run starts from that file's initial
 * weights and trains on its batches instead of its own.
 */
import { promises as fs } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { createOptimizer, createRng, createRuntime, hashSeed, setTrainingStep } from '@cellstack/core';
import { cells } from '@cellstack/cell-ur';
import { taskLoss, urCopyTask } from '@cellstack/tasks';

const [out, seedA = '1', lagA = '200', stepsA = '3000', recordA = '30'] = process.argv.slice(2);
if (!out) throw new Error('usage: ur-dump.ts OUT.json [seed] [lag] [steps] [record]');
const seed = Number(seedA), lag = Number(lagA), steps = Number(stepsA), record = Number(recordA);

// reproduce's spec `URLSTM(64) -> dense(9, activation: softmax, init: uniform)` with the run's seed
// (the same weights as `cellstack train` builds: its losses agree bit for bit).
const runtime = await createRuntime({ backend: 'wasm', cells });
const task = urCopyTask({ lag });
const model = runtime.build({
  input: { shape: [null, 10] },
  layers: [{ cell: 'URLSTM', options: { units: 64 } }, { type: 'dense', units: 9, activation: 'softmax', init: 'uniform' }],
  seed,
});
const loss = taskLoss(task);
// As trainer.ts's compileForTask (its metrics do not touch the update).
const optimizer = createOptimizer(model, { name: 'adam', learningRate: 1e-3, clipNorm: 1 });
model.compile({ optimizer, loss });
// EPS=1e-8: Adam's ε as PyTorch and TF1 have it (tfjs: 1e-7), set on the inner Adam before the first step.
if (process.env.EPS) (optimizer as unknown as { group(m: number): { epsilon: number } }).group(1).epsilon = Number(process.env.EPS);

const from = process.env.FROM ? (JSON.parse(await fs.readFile(process.env.FROM, 'utf8')) as { weights0: Record<string, { data: number[] }>; symbols: number[][] }) : undefined;
if (from) for (const w of model.trainableWeights) w.write(tf.tensor(from.weights0[w.name].data, w.shape as number[]));
const weights = () => Object.fromEntries(model.trainableWeights.map((w) => [w.name, { shape: w.shape, data: Array.from(w.read().dataSync()) }]));
const S = 10;
const [T, F] = [lag + 2 * S, 10];
/** The copyUR batch of given data symbols (as urCopyTask lays it out). */
function copyBatch(symbols: number[]) {
  const x = new Float32Array(10 * T * F), y = new Float32Array(10 * T * 9);
  for (let i = 0; i < 10; i++) {
    for (let t = 0; t < T; t++) x[(i * T + t) * F + (t < S ? symbols[i * S + t] : t >= T - S ? 9 : 0)] = 1;
    for (let t = T - S; t < T; t++) y[(i * T + t) * 9 + symbols[i * S + t - (T - S)]] = 1;
    for (let t = 0; t < T - S; t++) y[(i * T + t) * 9] = 1;
  }
  return { x, xShape: [10, T, F] as [number, number, number], y, yShape: [10, T, 9] };
}
const result = { lag, seed, backend: tf.getBackend(), weights0: weights(), symbols: [] as number[][], losses: [] as number[], steps: [] as unknown[] };
for (let s = 0; s < steps; s++) {
  // trainer.ts's batchRng(seed, step); train.ts counts steps from 1
  const b = from ? copyBatch(from.symbols[s]) : task.batch(10, createRng(hashSeed(seed, 'train', s + 1)), 'train');
  // The data symbols of each sequence (the rest of the batch follows from them).
  result.symbols.push(Array.from({ length: 10 * S }, (_, k) => {
    const [i, t] = [Math.floor(k / S), k % S];
    const row = b.x.subarray((i * T + t) * F, (i * T + t + 1) * F);
    return row.indexOf(1);
  }));
  const x = tf.tensor3d(b.x, b.xShape);
  const y = tf.tensor(b.y, b.yShape);
  setTrainingStep(s + 1);
  if (s < record) {
    const { value, grads } = tf.variableGrads(() => loss(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar);
    const g = Object.fromEntries(Object.entries(grads).map(([k, t]) => [k, Array.from(t.dataSync())]));
    const v = value.dataSync()[0];
    tf.dispose([value, ...Object.values(grads)]);
    const l = (await model.trainOnBatch(x, y)) as number;
    result.steps.push({ loss: v, trainLoss: l, grads: g, after: weights() });
    result.losses.push(l);
  } else {
    result.losses.push((await model.trainOnBatch(x, y)) as number);
  }
  setTrainingStep(undefined);
  tf.dispose([x, y]);
  if (s % 500 === 499) {
    const last = result.losses.slice(-100);
    console.log(`step ${s + 1}: mean of the last 100 ${(last.reduce((a, b) => a + b, 0) / 100).toFixed(4)}`);
  }
}
const tmp = `${out}.tmp`;
await fs.writeFile(tmp, JSON.stringify(result));
await fs.rename(tmp, out);
const mean = (a: number[]) => a.reduce((p, q) => p + q, 0) / a.length;
const final = mean(result.losses.slice(-Math.floor(steps / 10)));
const below = Array.from({ length: Math.floor(steps / 100) }, (_, k) => mean(result.losses.slice(k * 100, k * 100 + 100))).findIndex((m) => m < 0.9 * Math.log(8));
console.log(`final (last 10 %) ${final.toFixed(4)} = ${((100 * final) / Math.log(8)).toFixed(1)} % of ln 8; first 100-step mean below 0.9·ln 8: ${below < 0 ? 'never' : `steps ${below * 100 + 1}–${below * 100 + 100}`}`);
console.log('wrote', out);
