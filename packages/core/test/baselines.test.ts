import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createOptimizer, createRng, runtimeOf } from '@cellstack/core';
import { leakedTensors, saveAndLoad, trainUntil } from '@cellstack/core/testing';
import { addingTask, toTensors } from '@cellstack/tasks';

const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' });
const model = (cell: string, units: number, length: number, seed: number) =>
  rt.build({ input: { shape: [length, 2] }, layers: [{ cell, options: { units } }, { type: 'last' }, { type: 'dense', units: 1 }], seed });

// Seeded learning tests: the adding task (baseline MSE 1/6 ≈ 0.167), 16 units, Adam, clip 1,
// trained until the mean loss of 10 steps < 0.02 (at most 600 steps), then scored on 256 held-out sequences.
describe.each([
  { cell: 'LSTM', length: 20, lr: 0.01, threshold: 0.05 },
  { cell: 'GRU', length: 20, lr: 0.01, threshold: 0.05 },
  { cell: 'JANET', length: 20, lr: 0.01, threshold: 0.05 },
  { cell: 'SimpleRNN', length: 10, lr: 0.005, threshold: 0.06 },
])('$cell', ({ cell, length, lr, threshold }) => {
  it(`learns the adding task (length ${length}) below ${threshold} MSE`, async () => {
    const task = addingTask({ length });
    const m = model(cell, 16, length, 1);
    m.compile({ optimizer: createOptimizer(m, { learningRate: lr, clipNorm: 1 }), loss: task.loss });
    const rng = createRng(11);
    await trainUntil(m, () => toTensors(task.batch(32, rng)), { target: 0.02, maxSteps: 600 });
    const { x, y } = toTensors(task.batch(256, createRng(99)));
    expect((m.evaluate(x, y) as tf.Scalar).dataSync()[0]).toBeLessThan(threshold);
    tf.dispose([x, y]);
  });

  it('leaks no tensors over 50 training steps, and saves/loads with identical predictions', async () => {
    const task = addingTask({ length: 8 });
    const m = rt.build({ input: { shape: task.inputShape }, layers: [{ cell, options: { units: 4 }, repeat: 2 }, { type: 'last' }, { type: 'dense', units: 1 }], seed: 2 });
    m.compile({ optimizer: createOptimizer(m, { clipNorm: 1 }), loss: task.loss });
    const { x, y } = toTensors(task.batch(8, createRng(1)));
    expect(await leakedTensors(m, x, y, 50)).toBe(0);
    const loaded = await saveAndLoad(m);
    expect(Array.from((loaded.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from((m.predict(x) as tf.Tensor).dataSync()));
    tf.dispose([x, y]);
  });
});
