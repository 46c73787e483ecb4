import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { SimpleRNN, createOptimizer, createRng, runtimeOf } from '@cellstack/core';
import { buildCell, forward, gradCheck, leakedTensors, randomArray3, ref, runCell, saveAndLoad, trainUntil } from '@cellstack/core/testing';
import { addingTask, toTensors } from '@cellstack/tasks';

const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' });
const head = [{ type: 'last' as const }, { type: 'dense' as const, units: 1 }];

describe('SimpleRNN', () => {
  it('two steps equal the equations on tiny weights', () => {
    const kernel = [
      [0.4, -0.3],
      [0.2, 0.5],
    ];
    const recurrent = [
      [0.6, -0.1],
      [0.3, 0.2],
    ];
    const bias = [0.05, -0.05];
    const cell = buildCell(SimpleRNN, { units: 2 }, { inputSize: 2, values: { kernel, recurrent, bias } });
    const xs = [
      [1, -0.5],
      [0.25, 0.75],
    ];
    const r = runCell(cell, [xs]);
    let h = [0, 0];
    xs.forEach((x, t) => {
      h = ref.add(ref.vecMat(x, kernel), ref.vecMat(h, recurrent), bias).map(Math.tanh);
      r.outputs[0][t].forEach((v, k) => expect(v).toBeCloseTo(h[k], 6));
    });
    cell.dispose();
  });

  it('gradients match finite differences', () => {
    const cell = buildCell(SimpleRNN, { units: 3 }, { inputSize: 2, seed: 4 });
    const x = tf.variable(tf.tensor3d(randomArray3(2, 4, 2, 5)));
    const r = gradCheck(() => tf.tidy(() => tf.sum(tf.square(forward(cell, x))) as tf.Scalar), { ...cell.params, x });
    expect(r.maxRelError, r.worst).toBeLessThan(2e-2);
    cell.dispose();
    x.dispose();
  });

  it('learns the adding task (length 10) below 0.06 MSE (baseline 0.167)', async () => {
    const task = addingTask({ length: 10 });
    const model = rt.build({ input: { shape: task.inputShape }, layers: [{ cell: 'SimpleRNN', options: { units: 16 } }, ...head], seed: 1 });
    model.compile({ optimizer: createOptimizer(model, { learningRate: 0.005, clipNorm: 1 }), loss: task.loss });
    const rng = createRng(11);
    await trainUntil(model, () => toTensors(task.batch(32, rng)), { target: 0.02, maxSteps: 600 });
    const { x, y } = toTensors(task.batch(256, createRng(99)));
    expect((model.evaluate(x, y) as tf.Scalar).dataSync()[0]).toBeLessThan(0.06);
    tf.dispose([x, y]);
  });

  it('leaks no tensors over 50 training steps, and saves/loads identically', async () => {
    const task = addingTask({ length: 8 });
    const model = rt.build({ input: { shape: task.inputShape }, layers: [{ cell: 'SimpleRNN', options: { units: 4 } }, ...head], seed: 2 });
    model.compile({ optimizer: createOptimizer(model, { clipNorm: 1 }), loss: task.loss });
    const { x, y } = toTensors(task.batch(8, createRng(1)));
    expect(await leakedTensors(model, x, y, 50)).toBe(0);
    const loaded = await saveAndLoad(model);
    expect(Array.from((loaded.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from((model.predict(x) as tf.Tensor).dataSync()));
    tf.dispose([x, y]);
  });
});
