import * as tf from '@tensorflow/tfjs-core';
import { createOptimizer, createRng, createRuntime } from '@cellstack/core';
import { copyTask, toTensors } from '@cellstack/tasks';
import { NRU } from './src/index.js';

const [hidden, memory, heads, lag, symbols, steps, batch, lr, seed] = process.argv.slice(2).map(Number);
const rt = await createRuntime({ backend: 'wasm' });
rt.use(NRU);
const task = copyTask({ lag, symbols });
const model = rt.build({ input: { shape: task.inputShape }, layers: [(process.env.LSTM ? { cell: 'LSTM', options: { units: hidden } } : { cell: 'NRU', options: { hidden, memory, heads } }), { type: 'dense', units: 9, activation: 'softmax' }], seed });
model.compile({ optimizer: createOptimizer(model, { learningRate: lr, clipNorm: 1 }), loss: task.loss });
const rng = createRng(seed + 5);
const t0 = performance.now();
let acc = 0;
for (let s = 1; s <= steps; s++) {
  const { x, y } = toTensors(task.batch(batch, rng));
  acc += (await model.trainOnBatch(x, y)) as number;
  tf.dispose([x, y]);
  if (s % 50 === 0) { console.log(s, (acc / 50).toFixed(4), 'baseline', task.baseline.toFixed(4), ((performance.now() - t0) / s).toFixed(1), 'ms/step'); acc = 0; }
}
