import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createOptimizer, createRng, runtimeOf } from '@cellstack/core';
import { randomArray3, saveAndLoad } from '@cellstack/core/testing';
import { copyTask, toTensors } from '@cellstack/tasks';
import { NRU } from '../src/index.js';

const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' }).use(NRU);

describe('NRU in a model', () => {
  it.each([
    ['defaults', { hidden: 6 }],
    ['every alternative option', { hidden: 6, memory: 9, heads: 2, headReduce: 'sum', headInputs: 'xhm', outerProduct: 'perHead', useRelu: true, layerNorm: true, memoryInit: 'zeros' }],
  ])('saves and loads with identical predictions: %s', async (_, options) => {
    const model = rt.build({ input: { shape: [5, 3] }, layers: [{ cell: 'NRU', options, repeat: 2 }, { type: 'last' }, { type: 'dense', units: 2 }], seed: 3 });
    const x = tf.tensor3d(randomArray3(2, 5, 3, 8));
    const loaded = await saveAndLoad(model);
    const a = model.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(loaded.layers.find((l) => l.getClassName() === 'cellstack.NRU')?.getConfig().options).toMatchObject(options);
    tf.dispose([x, a, b]);
    model.dispose();
    loaded.dispose();
  });

  it('leaks no tensors over 50 training steps', async () => {
    const task = copyTask({ lag: 4, symbols: 2 });
    const model = rt.build({ input: { shape: task.inputShape }, layers: [{ cell: 'NRU', options: { hidden: 4, memory: 4, heads: 4 } }, { type: 'dense', units: 9, activation: 'softmax' }], seed: 2 });
    model.compile({ optimizer: createOptimizer(model, { clipNorm: 1 }), loss: task.loss });
    const { x, y } = toTensors(task.batch(4, createRng(1)));
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
});
