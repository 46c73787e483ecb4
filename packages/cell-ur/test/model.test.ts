import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createOptimizer, createRng, runtimeOf } from '@cellstack/core';
import { randomArray3, saveAndLoad } from '@cellstack/core/testing';
import { addingTask, toTensors } from '@cellstack/tasks';
import { cells } from '../src/index.js';

const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' });
for (const c of cells) rt.use(c);

const weightOf = (model: ReturnType<typeof rt.build>, name: string) => {
  const w = model.weights.find((v) => v.name.split('/').pop()!.startsWith(name));
  if (!w) throw new Error(`no weight ${name} in ${model.weights.map((v) => v.name).join(', ')}`);
  return w;
};

describe('URLSTM / URGRU in models', () => {
  it('save → load gives identical predictions (zoneout on: inference is deterministic)', async () => {
    const model = rt.build({
      input: { shape: [5, 3] },
      layers: [
        { cell: 'URLSTM', options: { units: 4, zc: 0.5, zh: 0.05 } },
        { cell: 'URGRU', options: { units: 4, preset: 'OM-', chunkSize: 2, zh: 0.1 } },
        { cell: 'URLSTM', options: { units: 4, preset: 'C-', tmax: 20, gateBias: 'frozen' } },
        { type: 'dense', units: 2 },
      ],
      seed: 3,
    });
    const x = tf.tensor3d(randomArray3(2, 5, 3, 8));
    const a = model.predict(x) as tf.Tensor;
    const again = model.predict(x) as tf.Tensor;
    const loaded = await saveAndLoad(model);
    const b = loaded.predict(x) as tf.Tensor;
    expect(Array.from(again.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([x, a, again, b]);
    model.dispose();
    loaded.dispose();
  });

  it("gateBias 'frozen' stays fixed in training while 'trained' moves (UGI, both cells)", async () => {
    const task = addingTask({ length: 6 });
    for (const cell of ['URLSTM', 'URGRU']) {
      const build = (gateBias: string) =>
        rt.build({ input: { shape: task.inputShape }, layers: [{ cell, options: { units: 4, gateBias } }, { type: 'last' }, { type: 'dense', units: 1 }], seed: 5 });
      const frozen = build('frozen');
      const trained = build('trained');
      const before = weightOf(frozen, 'gateBias').read().arraySync() as number[];
      expect(weightOf(frozen, 'gateBias').trainable).toBe(false);
      expect(frozen.trainableWeights.length).toBe(trained.trainableWeights.length - 1);
      for (const m of [frozen, trained]) {
        m.compile({ optimizer: createOptimizer(m, { learningRate: 0.05 }), loss: task.loss });
        const { x, y } = toTensors(task.batch(8, createRng(1)));
        for (let i = 0; i < 3; i++) await m.trainOnBatch(x, y);
        tf.dispose([x, y]);
      }
      expect(weightOf(frozen, 'gateBias').read().arraySync()).toEqual(before);
      expect(weightOf(trained, 'gateBias').read().arraySync()).not.toEqual(before);
      frozen.dispose();
      trained.dispose();
    }
  });

  it.each([
    ['URLSTM', { units: 4, zc: 0.5, zh: 0.05 }],
    ['URLSTM', { units: 4, preset: 'OM-', chunkSize: 2 }],
    ['URGRU', { units: 4, zh: 0.1 }],
    ['URGRU', { units: 4, preset: 'UM-', chunkSize: 2 }],
  ])('%s %j leaks no tensors over 50 training steps', async (cell, options) => {
    const task = addingTask({ length: 8 });
    const model = rt.build({ input: { shape: task.inputShape }, layers: [{ cell, options }, { type: 'last' }, { type: 'dense', units: 1 }], seed: 2 });
    model.compile({ optimizer: createOptimizer(model, { clipNorm: 1 }), loss: task.loss });
    const { x, y } = toTensors(task.batch(8, createRng(1)));
    await model.trainOnBatch(x, y); // optimiser slots are created on the first step
    const before = tf.memory().numTensors;
    for (let i = 0; i < 50; i++) await model.trainOnBatch(x, y);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
    model.dispose();
  });
});
