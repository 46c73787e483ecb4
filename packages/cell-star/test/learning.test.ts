import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createOptimizer, createRng, runtimeOf } from '@cellstack/core';
import { addingTask, toTensors } from '@cellstack/tasks';
import { STAR } from '../src/index.js';

const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' }).use(STAR);

describe('STAR learning', () => {
  it('a 4-layer STAR learns the adding task (length 20) below 0.03 MSE (baseline 0.167)', async () => {
    const task = addingTask({ length: 20 });
    const model = rt.build({ input: { shape: task.inputShape }, layers: [{ cell: 'STAR', options: { units: 16 }, repeat: 4 }, { type: 'last' }, { type: 'dense', units: 1 }], seed: 1 });
    model.compile({ optimizer: createOptimizer(model, { learningRate: 0.01, clipNorm: 1 }), loss: task.loss });
    const rng = createRng(11);
    const losses: number[] = [];
    // Stop once the mean of the last 10 batch losses is below 0.01 (at most 300 steps).
    const recent = () => losses.slice(-10).reduce((a, b) => a + b, 0) / 10;
    while (losses.length < 300 && (losses.length < 10 || recent() > 0.01)) {
      const { x, y } = toTensors(task.batch(32, rng));
      losses.push((await model.trainOnBatch(x, y)) as number);
      tf.dispose([x, y]);
    }
    const { x, y } = toTensors(task.batch(256, createRng(99)));
    const evalLoss = (model.evaluate(x, y) as tf.Scalar).dataSync()[0];
    expect(evalLoss).toBeLessThan(0.03);
    tf.dispose([x, y]);
    model.dispose();
  });
});
