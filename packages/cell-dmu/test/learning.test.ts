import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createOptimizer, createRng, runtimeOf } from '@cellstack/core';
import { addingHSTask, toTensors } from '@cellstack/tasks';
import { DMU } from '../src/index.js';

const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' }).use(DMU);

describe('DMU learning', () => {
  it('learns the paper’s adding problem (length 20) with its ((5, 5)) block below 0.005 MSE (baseline 0.0394)', async () => {
    const task = addingHSTask({ length: 20 });
    const model = rt.build({ input: { shape: task.inputShape }, layers: [{ cell: 'DMU', options: { units: 5, layers: [5] } }, { type: 'last' }, { type: 'dense', units: 1 }], seed: 1 });
    // Learning rate 0.02: the paper's Table 6 value for DMU on Adding.
    model.compile({ optimizer: createOptimizer(model, { learningRate: 0.02, clipNorm: 1 }), loss: task.loss });
    const rng = createRng(11);
    const recent: number[] = [];
    for (let step = 0; step < 400 && !(recent.length === 20 && recent.reduce((a, b) => a + b) / 20 < 0.002); step++) {
      const { x, y } = toTensors(task.batch(32, rng));
      recent.push((await model.trainOnBatch(x, y)) as number);
      if (recent.length > 20) recent.shift();
      tf.dispose([x, y]);
    }
    const { x, y } = toTensors(task.batch(512, createRng(99)));
    const evalLoss = (model.evaluate(x, y) as tf.Scalar).dataSync()[0];
    expect(evalLoss).toBeLessThan(0.005);
    tf.dispose([x, y]);
  });
});
