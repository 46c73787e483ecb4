import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createOptimizer, createRng, runtimeOf } from '@cellstack/core';
import { randomArray3, saveAndLoad } from '@cellstack/core/testing';
import { addingTask, toTensors } from '@cellstack/tasks';
import { RRU } from '../src/index.js';

const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' }).use(RRU);

describe('RRU in a model', () => {
  it('learns the adding task (length 10) below 0.02 MSE (baseline 0.167), dropout off', async () => {
    const task = addingTask({ length: 10 });
    const model = rt.build({
      input: { shape: task.inputShape },
      layers: [{ cell: 'RRU', options: { units: 8, outputSize: 8, dropout: 0 } }, { type: 'last' }, { type: 'dense', units: 1 }],
      seed: 1,
    });
    model.compile({ optimizer: createOptimizer(model, { learningRate: 0.01, clipNorm: 1 }), loss: task.loss });
    const rng = createRng(11);
    const recent: number[] = [];
    for (let step = 0; step < 300; step++) {
      const { x, y } = toTensors(task.batch(32, rng));
      recent.push((await model.trainOnBatch(x, y)) as number);
      tf.dispose([x, y]);
      if (recent.length > 10) recent.shift();
      if (recent.length === 10 && recent.reduce((a, b) => a + b) / 10 < 0.005) break;
    }
    const { x, y } = toTensors(task.batch(256, createRng(99)));
    const evalLoss = (model.evaluate(x, y) as tf.Scalar).dataSync()[0];
    expect(evalLoss).toBeLessThan(0.02);
    tf.dispose([x, y]);
    model.dispose();
  });

  for (const dropoutMask of ['step', 'sequence'] as const) {
    it(`leaks no tensors over 50 training steps (dropout 0.5, mask per ${dropoutMask}, reluLayers 2)`, async () => {
      const task = addingTask({ length: 6 });
      const model = rt.build({
        input: { shape: task.inputShape },
        layers: [{ cell: 'RRU', options: { units: 4, outputSize: 3, reluLayers: 2, dropoutMask } }, { type: 'last' }, { type: 'dense', units: 1 }],
        seed: 2,
      });
      model.compile({ optimizer: createOptimizer(model, { clipNorm: 1 }), loss: task.loss });
      const { x, y } = toTensors(task.batch(8, createRng(1)));
      await model.trainOnBatch(x, y); // optimiser slots are created on the first step
      const before = tf.memory().numTensors;
      for (let i = 0; i < 50; i++) await model.trainOnBatch(x, y);
      expect(tf.memory().numTensors).toBe(before);
      const p = model.predict(x) as tf.Tensor;
      p.dispose();
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, y]);
      model.dispose();
    });
  }

  it('saves and loads with identical predictions (dropout inactive at inference)', async () => {
    const model = rt.build({
      input: { shape: [5, 3] },
      layers: [
        { cell: 'RRU', options: { units: 6, outputSize: 4, reluLayers: 2, normalize: 'l2', singleZ: true, sScale: 1 } },
        { cell: 'RRU', options: { units: 5, outputSize: 3, dropout: 0.7 } },
        { type: 'dense', units: 2 },
      ],
      seed: 3,
    });
    // make Z non-zero so the candidate path matters in the comparison
    const zs = model.weights.filter((w) => w.originalName.endsWith('/Z'));
    expect(zs).toHaveLength(2);
    for (const w of zs) w.write(tf.fill(w.shape as number[], 0.4));
    const x = tf.tensor3d(randomArray3(2, 5, 3, 8));
    const loaded = await saveAndLoad(model);
    const a = model.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(loaded.countParams()).toBe(model.countParams());
    const cfg = loaded.layers[1].getConfig() as { options: Record<string, unknown> };
    expect(cfg.options).toMatchObject({ units: 6, outputSize: 4, reluLayers: 2, normalize: 'l2', singleZ: true, sScale: 1 });
    tf.dispose([x, a, b]);
    model.dispose();
    loaded.dispose();
  });
});
