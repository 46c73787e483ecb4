import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createOptimizer, createRng, runtimeOf } from '@cellstack/core';
import { addingTask, toTensors } from '@cellstack/tasks';
import { cells } from '../src/index.js';

const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' });
for (const c of cells) rt.use(c);

// Adding task, length 50 (baseline MSE 1/6 ≈ 0.167): 16 units, batch 32, Adam 1e-2,
// clip 1, at most 400 steps (stopping once the mean of the last 10 training losses is below 0.025); the
// held-out MSE (256 fresh sequences) must end below 0.05, i.e. under a third of the baseline.
describe.each(['URLSTM', 'URGRU'])('%s learns the adding task (length 50)', (name) => {
  it('held-out MSE < 0.05 (baseline 0.167)', async () => {
    const task = addingTask({ length: 50 });
    const model = rt.build({ input: { shape: task.inputShape }, layers: [{ cell: name, options: { units: 16 } }, { type: 'last' }, { type: 'dense', units: 1 }], seed: 1 });
    model.compile({ optimizer: createOptimizer(model, { learningRate: 0.01, clipNorm: 1 }), loss: task.loss });
    const rng = createRng(11);
    const recent: number[] = [];
    let step = 0;
    for (; step < 400; step++) {
      const { x, y } = toTensors(task.batch(32, rng));
      recent.push((await model.trainOnBatch(x, y)) as number);
      tf.dispose([x, y]);
      if (recent.length > 10) recent.shift();
      if (recent.length === 10 && recent.reduce((a, b) => a + b) / 10 < 0.025) break;
    }
    const { x, y } = toTensors(task.batch(256, createRng(99)));
    const evalLoss = tf.tidy(() => (model.evaluate(x, y) as tf.Scalar).dataSync()[0]);
    console.log(`${name}: adding-50 held-out MSE ${evalLoss.toFixed(4)} after ${step} steps`);
    expect(evalLoss).toBeLessThan(0.05);
    tf.dispose([x, y]);
    model.dispose();
  });
});
