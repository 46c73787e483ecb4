import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createOptimizer, runtimeOf } from '@cellstack/core';
import { randomTensor, saveAndLoad } from '@cellstack/core/testing';
import { STAR } from '../src/index.js';

const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' }).use(STAR);

/** `STAR(units) x16 -> last -> dense(2, softmax)` on [T, 3] inputs. */
const deep = (units: number, T: number, variant = 'paper') =>
  rt.build({
    input: { shape: [T, 3] },
    layers: [{ cell: 'STAR', options: { units, variant }, repeat: 16 }, { type: 'last' }, { type: 'dense', units: 2, activation: 'softmax' }],
    seed: 5,
  });

describe('STAR x16', () => {
  it.each(['paper', 'official'])('%s: builds, trains (gradients reach the first layer), saves and loads identically', async (variant) => {
    const model = deep(8, 6, variant);
    expect(model.layers.filter((l) => l.getClassName() === 'cellstack.STAR')).toHaveLength(16);
    const x = randomTensor([16, 6, 3], 1);
    // target: the sign of the first feature at the first step, so the signal must cross 16 layers and 6 steps
    const first = tf.reshape(tf.slice(x, [0, 0, 0], [16, 1, 1]), [16]);
    const y = tf.oneHot(tf.cast(tf.greater(first, 0), 'int32'), 2);
    model.compile({ optimizer: createOptimizer(model, { learningRate: 0.01, clipNorm: 1 }), loss: 'categoricalCrossentropy' });
    const w0 = model.layers[1].getWeights()[0].dataSync().slice();
    const losses: number[] = [];
    for (let i = 0; i < 5; i++) losses.push((await model.trainOnBatch(x, y)) as number);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[4]).toBeLessThan(losses[0]);
    const w1 = model.layers[1].getWeights()[0].dataSync();
    expect(Math.max(...w1.map((v, i) => Math.abs(v - w0[i])))).toBeGreaterThan(1e-3);

    const loaded = await saveAndLoad(model);
    const a = model.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(loaded.layers[1].getConfig().options).toEqual({ units: 8, variant, chrono: true, tmax: null });
    tf.dispose([x, first, y, a, b]);
    model.dispose();
    loaded.dispose();
  });

  it('leaks no tensors over 50 training steps', async () => {
    const model = deep(4, 3);
    model.compile({ optimizer: createOptimizer(model, { clipNorm: 1 }), loss: 'categoricalCrossentropy' });
    const x = randomTensor([4, 3, 3], 2);
    const y = tf.oneHot(tf.tensor1d([0, 1, 1, 0], 'int32'), 2);
    await model.trainOnBatch(x, y); // optimiser slots are created on the first step
    const before = tf.memory().numTensors;
    for (let i = 0; i < 50; i++) await model.trainOnBatch(x, y);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
    model.dispose();
  });
});
