/**
 * Where one step's time goes (a benchmark, never a test): the bench.ts model of a workload, its
 * parts timed alone in CPU milliseconds per call (the process's CPU time: steadier than wall
 * time on a shared machine; with CELLSTACK_THREADS=1 it is one core's work).
 *
 *   npx tsx --conditions=@cellstack/source tools/bench/profile.ts --cell SimpleRNN --workload W1 [--calls 30]
 *
 * Parts: the whole step (trainOnBatch, or predict for W3); the cell layers forward, and forward
 * + backward (gradient of their last output given a fixed dy); the dense head forward, and head +
 * loss forward + backward; the optimiser update (clipping and Adam over every variable). The
 * step minus cell, head and update is tfjs-layers' and the engine's own work (tape, bookkeeping).
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { createOptimizer, createRuntime, type CellPlugin } from '@cellstack/core';
import { cliArgs } from './args.js';

const CELL_PACKAGES = ['@cellstack/cell-nru', '@cellstack/cell-ur', '@cellstack/cell-star', '@cellstack/cell-rru', '@cellstack/cell-dmu'];
const USAGE = 'usage: npx tsx --conditions=@cellstack/source tools/bench/profile.ts [--cell SimpleRNN] [--workload W1|W2|W3] [--calls 30]';
const args = cliArgs('profile', USAGE, {
  options: { help: { type: 'boolean', default: false }, cell: { type: 'string', default: 'SimpleRNN' }, workload: { type: 'string', default: 'W1' }, calls: { type: 'string', default: '30' } },
});
const workloads: Record<string, { layers: number; units: number; train: boolean }> = {
  W1: { layers: 1, units: 128, train: true },
  W2: { layers: 4, units: 64, train: true },
  W3: { layers: 1, units: 128, train: false },
};
const w = workloads[args.workload];
if (!w) throw new Error(`--workload must be one of ${Object.keys(workloads).join(', ')}`);

const rt = await createRuntime({ backend: 'wasm' });
for (const pkg of CELL_PACKAGES) for (const c of ((await import(pkg)) as { cells: CellPlugin[] }).cells) rt.use(c);
const size = rt.cell(args.cell).positional?.[0] ?? 'units';
const model = rt.build({ input: { shape: [100, 10] }, layers: [{ cell: args.cell, options: { [size]: w.units }, repeat: w.layers }, { type: 'dense', units: 10, activation: 'softmax' }], seed: 1 });
const optimizer = createOptimizer(model, { learningRate: 1e-3, clipNorm: 1 });
model.compile({ optimizer, loss: 'categoricalCrossentropy' });
const x = tf.cast(tf.oneHot(tf.randomUniform([32, 100], 0, 10, 'int32', 1), 10), 'float32') as tf.Tensor3D;
const y = tf.oneHot(tf.randomUniform([32, 100], 0, 10, 'int32', 2), 10);
const cells = model.layers.slice(1, -1);
const head = model.layers[model.layers.length - 1];
const values = (layers: tfl.layers.Layer[]) => layers.flatMap((l) => l.trainableWeights.map((v) => (v as unknown as { val: tf.Variable }).val));
const cellsForward = () => cells.reduce((h: tf.Tensor, l) => l.apply(h) as tf.Tensor, x);
const h = tf.variable(tf.tidy(cellsForward), true, 'profile_h');
const dy = tf.onesLike(h);
const loss = (model as unknown as { lossFunctions: ((a: tf.Tensor, b: tf.Tensor) => tf.Tensor)[] }).lossFunctions[0];
const ones = values([...cells, head]).map((v) => ({ name: v.name, tensor: tf.onesLike(v) }));
const engine = tf.engine() as unknown as { gradients(f: () => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor): { value: tf.Tensor; grads: tf.Tensor[] } };

const parts: Record<string, () => unknown> = {
  step: () => (w.train ? model.trainOnBatch(x, y) : tf.dispose(model.predict(x) as tf.Tensor)),
  cellsForward: () => tf.tidy(cellsForward).dispose(),
  ...(w.train ? { cellsForwardBackward: () => tf.tidy(() => engine.gradients(cellsForward, values(cells), dy).grads).forEach((g) => g.dispose()) } : {}),
  headForward: () => tf.tidy(() => head.apply(h) as tf.Tensor).dispose(),
  ...(w.train
    ? {
        headLossForwardBackward: () => {
          const { value, grads } = tf.variableGrads(() => tf.mean(loss(y, head.apply(h) as tf.Tensor)) as tf.Scalar, [...values([head]), h]);
          tf.dispose([value, ...Object.values(grads)]);
        },
        update: () => optimizer.applyGradients(ones),
      }
    : {}),
};
const result: Record<string, number> = {};
const wall: Record<string, number> = {};
for (const [name, fn] of Object.entries(parts)) {
  for (let i = 0; i < 3; i++) await fn();
  const calls = Number(args.calls);
  const before = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < calls; i++) await fn();
  wall[name] = +((performance.now() - start) / calls).toFixed(2);
  const cpu = process.cpuUsage(before);
  result[name] = +((cpu.user + cpu.system) / 1000 / calls).toFixed(2);
}
const other = result.step - (result.cellsForwardBackward ?? result.cellsForward) - (result.headLossForwardBackward ?? result.headForward) - (result.update ?? 0);
console.log(JSON.stringify({ workload: args.workload, cell: args.cell, cpuMs: result, wallMs: wall, otherCpuMs: +other.toFixed(2), numTensors: tf.memory().numTensors }));
