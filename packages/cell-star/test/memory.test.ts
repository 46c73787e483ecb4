import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { configure, createOptimizer, runtimeOf, settings } from '@cellstack/core';
import { randomTensor } from '@cellstack/core/testing';
import { STAR } from '../src/index.js';

const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' }).use(STAR);

/**
 * Parameters and the peak tensor bytes a training step adds on top of the resident weights and Adam slots.
 * Measured on the step loop, where every value kept for BPTT is a tensor: a fused kernel keeps its
 * per-step values in arrays that tf.profile does not see, so its figure would compare output copies only.
 */
async function footprint(cell: string) {
  const model = rt.build({ input: { shape: [12, 2] }, layers: [{ cell, options: { units: 32 }, repeat: 2 }, { type: 'last' }, { type: 'dense', units: 3, activation: 'softmax' }], seed: 1 });
  model.compile({ optimizer: createOptimizer(model, { clipNorm: 1 }), loss: 'categoricalCrossentropy' });
  const x = randomTensor([8, 12, 2], 3);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32'), 3);
  await model.trainOnBatch(x, y);
  const resident = tf.memory().numBytes;
  const info = await tf.profile(async () => {
    await model.trainOnBatch(x, y);
    return [];
  });
  const r = { params: model.countParams(), stepBytes: info.peakBytes - resident };
  tf.dispose([x, y]);
  model.dispose();
  return r;
}

describe('STAR memory vs LSTM at equal width (paper §4: < 40% of an LSTM)', () => {
  it('needs well under half the parameters and the training-step memory of an LSTM', async () => {
    const { fused } = settings();
    configure({ fused: false });
    let star, lstm;
    try {
      star = await footprint('STAR');
      lstm = await footprint('LSTM');
    } finally {
      configure({ fused });
    }
    // 2 × 32 units on 2 features (+99 head): STAR 2·(2·32) + 32² + 2·32 + 3·32² + 2·32 = 4,352; LSTM 4·(2·32 + 32² + 32) + 4·(2·32² + 32) = 12,800
    expect(star.params).toBe(4_352 + 99);
    expect(lstm.params).toBe(12_800 + 99);
    expect(star.stepBytes / lstm.stepBytes).toBeLessThan(0.6);
  });
});
