import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createOptimizer, createRuntime, defineCell, init } from '@cellstack/core';
import { buildCell, comparePadded, paddedProblems, saveAndLoad } from '@cellstack/core/testing';

// A toy cell defined the way a third party would: h_t = tanh(x W + h_{t-1} · decay).
const Toy = defineCell<{ units: number; decay: number }>({
  name: 'ToyLeaky',
  description: 'leaky tanh toy cell',
  positional: ['units'],
  schema: {
    type: 'object',
    properties: {
      units: { type: 'integer', minimum: 1, default: 8 },
      decay: { type: 'number', minimum: 0, maximum: 1, default: 0.5 },
    },
    additionalProperties: false,
  },
  create: ({ units, decay }, { inputSize }) => ({
    state: { h: units },
    outputSize: units,
    params: { w: { shape: [inputSize, units], init: init.glorotUniform() }, b: { shape: [units], init: init.zeros } },
    project: (x, p) => ({ x: tf.add(tf.matMul(x, p.w), p.b) }),
    step: ({ x }, { h }) => {
      const h2 = tf.tanh(tf.add(x, tf.mul(h, decay))) as tf.Tensor2D;
      return { output: h2, state: { h: h2 } };
    },
  }),
});

describe('a toy plugin end to end', () => {
  it('registers, builds 3 layers from IR, trains 30 steps, saves, reloads, predicts identically', async () => {
    const rt = await createRuntime({ backend: 'cpu' });
    rt.use(Toy);
    expect(rt.cells().map((c) => c.name)).toContain('ToyLeaky');
    const model = rt.build({
      input: { shape: [6, 3] },
      layers: [{ cell: 'ToyLeaky', options: { units: 8 }, repeat: 2 }, { type: 'last' }, { type: 'dense', units: 1 }],
      seed: 3,
    });
    // 2 stacked cells + dense (the `last` pooling folds into the second cell)
    expect(model.layers.filter((l) => l.getClassName() === 'cellstack.ToyLeaky')).toHaveLength(2);
    expect(model.outputs[0].shape).toEqual([null, 1]);

    // Target: the sum of the first feature over time — learnable by the toy cell.
    const x = tf.randomUniform([64, 6, 3], -1, 1, 'float32', 5);
    const y = tf.div(tf.sum(tf.slice(x, [0, 0, 0], [64, 6, 1]), 1), 3);
    model.compile({ optimizer: createOptimizer(model, { learningRate: 0.02 }), loss: 'meanSquaredError' });
    const losses: number[] = [];
    for (let step = 0; step < 30; step++) {
      losses.push((await model.trainOnBatch(x, y)) as number);
    }
    expect(losses[29]).toBeLessThan(losses[0] * 0.5);

    const loaded = await saveAndLoad(model);
    const a = model.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([x, y, a, b]);
  });
});

describe('a third-party cell on padded batches', () => {
  it('follows the mask rule with no code of its own: padded equals each sequence alone', () => {
    const built = buildCell(Toy, { units: 4 }, { inputSize: 3, seed: 2 });
    for (const pad of ['right', 'left', 'gaps'] as const) {
      const r = comparePadded(built, { lengths: [3, 1, 4, 0], inputSize: 3, pad });
      expect(paddedProblems(r, { useFused: false })).toEqual([]);
    }
    built.dispose();
  });
  it('stacks bidirectionally behind masking, and save → load keeps both', async () => {
    const rt = (await createRuntime({ backend: (process.env.CELLSTACK_TEST_BACKEND as 'wasm') ?? 'wasm' })).use(Toy);
    const model = rt.build({ input: { shape: [5, 3] }, layers: [{ type: 'masking' }, { cell: 'ToyLeaky', options: { units: 3 }, repeat: 2, bidirectional: { merge: 'mean' } }, { type: 'last' }], seed: 1 });
    const x = tf.tensor3d([[[1, 2, 3], [0.5, 0.1, 0.2], [0, 0, 0], [0, 0, 0], [0, 0, 0]]]);
    const loaded = await saveAndLoad(model);
    const [a, b] = [model.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor];
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    const alone = rt.build({ input: { shape: [null, 3] }, layers: [{ type: 'masking' }, { cell: 'ToyLeaky', options: { units: 3 }, repeat: 2, bidirectional: { merge: 'mean' } }, { type: 'last' }], seed: 1 });
    alone.setWeights(model.getWeights());
    const c = alone.predict(tf.slice(x, [0, 0, 0], [1, 2, 3])) as tf.Tensor;
    Array.from(c.dataSync()).forEach((v, i) => expect(a.dataSync()[i]).toBeCloseTo(v, 6));
    tf.dispose([x, a, b, c]);
    [model, loaded, alone].forEach((m) => m.dispose());
  });
});
