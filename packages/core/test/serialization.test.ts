import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { CellLayer, defineCell, init, runtimeOf } from '@cellstack/core';
import { saveAndLoad } from '@cellstack/core/testing';

// Option names and enum values that tfjs's Python-style config conversion would mangle.
const Spelled = defineCell<{ units: number; outputScale: number; mode: string; zBias: number; tags: string[] }>({
  name: 'SpelledToy',
  description: 'options with camelCase keys and upper-case enum values',
  schema: {
    type: 'object',
    properties: {
      units: { type: 'integer', minimum: 1, default: 2 },
      outputScale: { type: 'number', default: 1 },
      mode: { enum: ['UR-', 'Fast_Mode', 'plain'], default: 'UR-' },
      zBias: { type: 'number', default: 3 },
      tags: { type: 'array', items: { enum: ['A', 'bB'] }, default: ['A'] },
    },
    additionalProperties: false,
  },
  create: ({ units, outputScale }, { inputSize }) => ({
    state: { h: units },
    outputSize: units,
    params: { w: { shape: [inputSize, units], init: init.glorotUniform() } },
    project: (x, p) => ({ x: tf.matMul(x, p.w) }),
    step: ({ x }, { h }) => {
      const h2 = tf.tanh(tf.add(x, tf.mul(h, outputScale))) as tf.Tensor2D;
      return { output: h2, state: { h: h2 } };
    },
  }),
});

describe('saved cell options', () => {
  it('come back exactly as given, whatever tfjs does to config strings', async () => {
    const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' }).use(Spelled);
    const options = { units: 3, outputScale: 0.5, mode: 'Fast_Mode', zBias: 2, tags: ['bB', 'A'] };
    const model = rt.build({ input: { shape: [4, 2] }, layers: [{ cell: 'SpelledToy', options }], seed: 1 });
    const loaded = await saveAndLoad(model);
    const layer = loaded.layers.find((l) => l instanceof CellLayer) as CellLayer;
    expect(layer.cellOptions).toEqual(options);
    const x = tf.ones([1, 4, 2]);
    expect(Array.from((loaded.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from((model.predict(x) as tf.Tensor).dataSync()));
  });
});
