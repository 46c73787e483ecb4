import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createOptimizer, createRng, runtimeOf } from '@cellstack/core';
import { randomArray3, saveAndLoad } from '@cellstack/core/testing';
import { addingHSTask, toTensors } from '@cellstack/tasks';
import { DMU } from '../src/index.js';

const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' }).use(DMU);

describe('DMU in a model', () => {
  it('saves and loads with identical predictions (stacked, depth 3, non-default options)', async () => {
    const model = rt.build({
      input: { shape: [5, 3] },
      layers: [{ cell: 'DMU', options: { units: 4, layers: [6, 5], activation: 'tanh', zBias: 2 }, repeat: 2 }, { type: 'dense', units: 2 }],
      seed: 3,
    });
    const x = tf.tensor3d(randomArray3(2, 5, 3, 8));
    const loaded = await saveAndLoad(model);
    const a = model.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    // The learning-rate multipliers survive the round trip with the options.
    const kernel1h = loaded.weights.find((w) => w.originalName.endsWith('kernel1_h'))!;
    expect(createOptimizer(loaded).multiplierOf(kernel1h.name)).toBe(1 / 3);
    tf.dispose([x, a, b]);
  });

  it('leaks no tensors over 50 training steps', async () => {
    const task = addingHSTask({ length: 10 });
    const model = rt.build({ input: { shape: task.inputShape }, layers: [{ cell: 'DMU', options: { units: 4, layers: [5, 3] } }, { type: 'last' }, { type: 'dense', units: 1 }], seed: 2 });
    model.compile({ optimizer: createOptimizer(model, { learningRate: 0.01, clipNorm: 1 }), loss: task.loss });
    const { x, y } = toTensors(task.batch(8, createRng(1)));
    await model.trainOnBatch(x, y); // optimiser slots (one Adam per rate group) are created on the first step
    const before = tf.memory().numTensors;
    for (let i = 0; i < 50; i++) await model.trainOnBatch(x, y);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
  });
});
