import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { GRU, createOptimizer, createRng, runtimeOf } from '@cellstack/core';
import { buildCell, forward, gradCheck, leakedTensors, randomArray3, ref, runCell, saveAndLoad, sigmoid, trainUntil } from '@cellstack/core/testing';
import { addingTask, toTensors } from '@cellstack/tasks';

const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' });
const head = [{ type: 'last' as const }, { type: 'dense' as const, units: 1 }];

describe('GRU', () => {
  it('one step equals the equations on tiny weights', () => {
    // x 2, h 2; kernel columns: z z r r h h
    const kernel = [
      [0.1, -0.2, 0.3, 0.05, -0.1, 0.2],
      [0.2, 0.1, -0.3, 0.25, 0.05, -0.15],
    ];
    const recurrentGates = [
      [0.05, 0.1, -0.1, 0.2],
      [-0.1, 0.2, 0.15, -0.05],
    ];
    const recurrentCandidate = [
      [0.3, -0.2],
      [0.1, 0.25],
    ];
    const bias = [0.1, -0.1, 0, 0.2, 0, 0.05];
    const cell = buildCell(GRU, { units: 2 }, { inputSize: 2, values: { kernel, recurrentGates, recurrentCandidate, bias } });
    const x = [0.5, -1];
    const h0 = [0.3, -0.2];
    const r = runCell(cell, [[x]], { initialState: { h: [h0] } });
    const xz = ref.add(ref.vecMat(x, kernel), bias);
    const gates = ref.add(xz.slice(0, 4), ref.vecMat(h0, recurrentGates)).map(sigmoid);
    const z = gates.slice(0, 2);
    const rr = gates.slice(2, 4);
    const hh = ref.add(xz.slice(4, 6), ref.vecMat(ref.mul(rr, h0), recurrentCandidate)).map(Math.tanh);
    const h = ref.add(ref.mul(z, h0), ref.mul(z.map((v) => 1 - v), hh));
    r.outputs[0][0].forEach((v, k) => expect(v).toBeCloseTo(h[k], 6));
    cell.dispose();
  });

  it('gradients match finite differences', () => {
    const cell = buildCell(GRU, { units: 3 }, { inputSize: 2, seed: 4 });
    const x = tf.variable(tf.tensor3d(randomArray3(2, 4, 2, 5)));
    const r = gradCheck(() => tf.tidy(() => tf.sum(tf.square(forward(cell, x))) as tf.Scalar), { ...cell.params, x });
    expect(r.maxRelError, r.worst).toBeLessThan(2e-2);
    cell.dispose();
    x.dispose();
  });

  it('learns the adding task (length 20) below 0.05 MSE (baseline 0.167)', async () => {
    const task = addingTask({ length: 20 });
    const model = rt.build({ input: { shape: task.inputShape }, layers: [{ cell: 'GRU', options: { units: 16 } }, ...head], seed: 1 });
    model.compile({ optimizer: createOptimizer(model, { learningRate: 0.01, clipNorm: 1 }), loss: task.loss });
    const rng = createRng(11);
    await trainUntil(model, () => toTensors(task.batch(32, rng)), { target: 0.02, maxSteps: 500 });
    const { x, y } = toTensors(task.batch(256, createRng(99)));
    expect((model.evaluate(x, y) as tf.Scalar).dataSync()[0]).toBeLessThan(0.05);
    tf.dispose([x, y]);
  });

  it('leaks no tensors over 50 training steps, and saves/loads identically', async () => {
    const task = addingTask({ length: 8 });
    const model = rt.build({ input: { shape: task.inputShape }, layers: [{ cell: 'GRU', options: { units: 4 } }, ...head], seed: 2 });
    model.compile({ optimizer: createOptimizer(model, { clipNorm: 1 }), loss: task.loss });
    const { x, y } = toTensors(task.batch(8, createRng(1)));
    expect(await leakedTensors(model, x, y, 50)).toBe(0);
    const loaded = await saveAndLoad(model);
    expect(Array.from((loaded.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from((model.predict(x) as tf.Tensor).dataSync()));
    tf.dispose([x, y]);
  });
});
