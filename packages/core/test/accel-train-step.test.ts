import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterEach, describe, expect, it } from 'vitest';
import { GRU, JANET, LSTM, SimpleRNN, configure, createOptimizer, directSteps, runtimeOf, type ModelIR } from '@cellstack/core';
import { randomTensor } from '@cellstack/core/testing';

// vitest.setup selects the wasm backend, which installs the patches (the direct step among them).
const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' }).use(LSTM).use(GRU).use(SimpleRNN).use(JANET);
const x = randomTensor([4, 6, 3], 3);
const classes = tf.oneHot(tf.randomUniform([4, 6], 0, 3, 'int32', 5), 3);
const lastClass = tf.oneHot(tf.randomUniform([4], 0, 3, 'int32', 6), 3);
const target = randomTensor([4, 6, 2], 7);

const cases: Array<{ name: string; ir: ModelIR; loss: string; y: tf.Tensor; metrics?: string[] }> = [
  {
    name: 'LSTM → softmax head over every step (W1)',
    ir: { input: { shape: [6, 3] }, layers: [{ cell: 'LSTM', options: { units: 5 } }, { type: 'dense', units: 3, activation: 'softmax' }], seed: 1 },
    loss: 'categoricalCrossentropy',
    y: classes,
    metrics: ['accuracy'],
  },
  {
    name: 'GRU × 2 → last → softmax',
    ir: { input: { shape: [6, 3] }, layers: [{ cell: 'GRU', options: { units: 4 }, repeat: 2 }, { type: 'last' }, { type: 'dense', units: 3, activation: 'softmax' }], seed: 2 },
    loss: 'categoricalCrossentropy',
    y: lastClass,
  },
  {
    name: 'bidirectional SimpleRNN → layerNorm → dropout → linear head, mean squared error',
    ir: {
      input: { shape: [6, 3] },
      layers: [{ cell: 'SimpleRNN', options: { units: 4 }, bidirectional: {} }, { type: 'layerNorm' }, { type: 'dropout', rate: 0.2 }, { type: 'dense', units: 2 }],
      seed: 3,
    },
    loss: 'meanSquaredError',
    y: target,
  },
  {
    name: 'JANET → relu dense → mean → softmax',
    ir: {
      input: { shape: [6, 3] },
      layers: [{ cell: 'JANET', options: { units: 4 } }, { type: 'dense', units: 6, activation: 'relu' }, { type: 'mean' }, { type: 'dense', units: 3, activation: 'softmax' }],
      seed: 4,
    },
    loss: 'categoricalCrossentropy',
    y: lastClass,
  },
];

/** Losses (with metrics) and weights after `steps` trainOnBatch steps with Adam and clipping. */
async function train(ir: ModelIR, loss: string, y: tf.Tensor, steps: number, metrics?: string[]) {
  const model = rt.build(ir);
  model.compile({ optimizer: createOptimizer(model, { learningRate: 0.05, clipNorm: 1 }), loss, metrics });
  const before = directSteps();
  const losses: unknown[] = [];
  for (let i = 0; i < steps; i++) losses.push(await model.trainOnBatch(x, y));
  const weights = model.getWeights().map((w) => Array.from(w.dataSync()));
  model.dispose();
  return { losses, weights, direct: directSteps() - before };
}

async function taped<T>(f: () => Promise<T>): Promise<T> {
  configure({ directSteps: false });
  try {
    return await f();
  } finally {
    configure({ directSteps: true });
  }
}

describe.runIf(tf.getBackend() === 'wasm')('the direct training step (core/src/accel/train-step.ts)', () => {
  afterEach(() => configure({ directSteps: true }));

  it.each(cases)('$name: losses, metrics and every weight bit-identical to tfjs-layers’ own step', async ({ ir, loss, y, metrics }) => {
    const ours = await train(ir, loss, y, 4, metrics);
    expect(ours.direct).toBe(4);
    const reference = await taped(() => train(ir, loss, y, 4, metrics));
    expect(reference.direct).toBe(0);
    expect(ours.losses).toEqual(reference.losses);
    expect(ours.weights).toEqual(reference.weights);
    const first = (l: unknown) => (Array.isArray(l) ? l[0] : l) as number;
    expect(first(ours.losses[3])).toBeLessThan(first(ours.losses[0]));
  });

  it('model.fit takes it too, with the same history as tfjs-layers’ step', async () => {
    const { ir, loss, y } = cases[0];
    const fit = async () => {
      const model = rt.build(ir);
      model.compile({ optimizer: createOptimizer(model, { learningRate: 0.05 }), loss });
      const before = directSteps();
      const history = await model.fit(x, y, { epochs: 3, batchSize: 2, shuffle: false, verbose: 0 });
      const weights = model.getWeights().map((w) => Array.from(w.dataSync()));
      model.dispose();
      return { loss: history.history.loss, weights, direct: directSteps() - before };
    };
    const ours = await fit();
    expect(ours.direct).toBe(6); // 3 epochs of 2 batches
    const reference = await taped(fit);
    expect(ours.loss).toEqual(reference.loss);
    expect(ours.weights).toEqual(reference.weights);
  });

  it('leaks no tensor over steps, and none when a step fails part-way (the next step is unharmed)', async () => {
    let fail = false;
    const mse = (yt: tf.Tensor, yp: tf.Tensor) => {
      if (fail) throw new Error('loss failed');
      return tf.mean(tf.square(tf.sub(yt, yp)), -1);
    };
    const build = () => {
      const model = rt.build({ input: { shape: [6, 3] }, layers: [{ cell: 'LSTM', options: { units: 5 } }, { type: 'dense', units: 2 }], seed: 9 });
      model.compile({ optimizer: createOptimizer(model, { learningRate: 0.05 }), loss: mse });
      return model;
    };
    const model = build();
    await model.trainOnBatch(x, target);
    const count = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await model.trainOnBatch(x, target);
    expect(tf.memory().numTensors).toBe(count);
    fail = true;
    await expect(model.trainOnBatch(x, target)).rejects.toThrow('loss failed');
    expect(tf.memory().numTensors).toBe(count);
    fail = false;
    const after = (await model.trainOnBatch(x, target)) as number;
    // The same model trained the same number of steps without the failure gives the same loss.
    const again = build();
    let expected = 0;
    for (let i = 0; i < 5; i++) expected = (await again.trainOnBatch(x, target)) as number;
    expect(after).toBe(expected);
    model.dispose();
    again.dispose();
  });

  it('leaves to tfjs-layers what it does not cover: masks, stateful layers, regularisers, class or sample weights', async () => {
    const masked: ModelIR = { input: { shape: [6, 3] }, layers: [{ type: 'masking' }, { cell: 'LSTM', options: { units: 4 } }, { type: 'dense', units: 3, activation: 'softmax' }], seed: 5 };
    const stateful: ModelIR = { input: { shape: [6, 3] }, layers: [{ cell: 'GRU', options: { units: 4 }, stateful: true }, { type: 'dense', units: 3, activation: 'softmax' }], seed: 6 };
    for (const ir of [masked, stateful]) {
      const ours = await train(ir, 'categoricalCrossentropy', classes, 2);
      expect(ours.direct).toBe(0);
      expect(ours.weights).toEqual((await taped(() => train(ir, 'categoricalCrossentropy', classes, 2))).weights);
    }
    const regularised = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [3], units: 2, kernelRegularizer: tfl.regularizers.l2({ l2: 0.1 }) })] });
    regularised.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    const before = directSteps();
    await regularised.trainOnBatch(tf.ones([2, 3]), tf.zeros([2, 2]));
    // Class weights reach the train function as sample weights.
    const weighted = rt.build(cases[1].ir);
    weighted.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
    await weighted.fit(x, lastClass, { epochs: 1, batchSize: 4, classWeight: { 0: 1, 1: 2, 2: 0.5 }, verbose: 0 });
    expect(directSteps()).toBe(before);
    regularised.dispose();
    weighted.dispose();
  });
});
