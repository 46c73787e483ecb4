import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterEach, describe, expect, it } from 'vitest';
import { configure, createOptimizer, installAccel, nativeKernels, runtimeOf, settings, SimpleRNN, type ModelIR } from '@cellstack/core';
import { randomTensor } from '@cellstack/core/testing';

// vitest.setup selects the backend through selectBackend, which installs the fused dense head on wasm.
const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' }).use(SimpleRNN);
const ir = (head: Record<string, unknown>, last = false): ModelIR => ({
  input: { shape: [6, 4] },
  layers: [{ cell: 'SimpleRNN', options: { units: 5 } }, ...(last ? [{ type: 'last' as const }] : []), { type: 'dense', units: 3, ...head } as never],
  seed: 11,
});
const x = randomTensor([4, 6, 4], 3);
const labels = (shape: number[]) => tf.oneHot(tf.randomUniform(shape, 0, 3, 'int32', 5), 3);

/** Loss and weights after `steps` SGD steps (SGD: the update is the gradient itself, no Adam normalisation). */
async function train(modelIR: ModelIR, y: tf.Tensor, steps: number, loss: string | ((a: tf.Tensor, b: tf.Tensor) => tf.Tensor) = 'categoricalCrossentropy') {
  const model = rt.build(modelIR);
  model.compile({ optimizer: createOptimizer(model, { name: 'sgd', learningRate: 0.5 }), loss });
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) losses.push((await model.trainOnBatch(x, y)) as number);
  const weights = model.getWeights().map((w) => Array.from(w.dataSync()));
  const prediction = Array.from((model.predict(x) as tf.Tensor).dataSync());
  model.dispose();
  return { losses, weights, prediction };
}

/** The same with tf's own Dense, softmax and cross-entropy (the wasm patches off). */
async function reference(...args: Parameters<typeof train>) {
  configure({ accel: false });
  installAccel();
  try {
    return await train(...args);
  } finally {
    configure({ accel: true });
    installAccel();
  }
}

function expectClose(a: ReturnType<typeof train> extends Promise<infer R> ? R : never, b: typeof a, tol: number) {
  a.losses.forEach((l, i) => expect(Math.abs(l - b.losses[i])).toBeLessThan(tol * (1 + Math.abs(b.losses[i]))));
  a.weights.forEach((w, i) => w.forEach((v, k) => expect(Math.abs(v - b.weights[i][k])).toBeLessThan(tol)));
  a.prediction.forEach((p, i) => expect(Math.abs(p - b.prediction[i])).toBeLessThan(tol));
}

describe.runIf(tf.getBackend() === 'wasm')('the fused dense head and cross-entropy (core/src/accel/head.ts)', () => {
  afterEach(() => {
    configure({ accel: true });
    installAccel();
  });

  it('trains a softmax head over every step like tf (loss, every weight, predictions within 1e-5), leaking nothing', async () => {
    const y = labels([4, 6]);
    const ours = await train(ir({ activation: 'softmax' }), y, 4);
    expect(ours.losses[3]).toBeLessThan(ours.losses[0]);
    const ref = await reference(ir({ activation: 'softmax' }), y, 4);
    expectClose(ours, ref, 1e-5);
    if (nativeKernels().available) {
      // The head's products through the native addon (its threshold at 1 multiply-add).
      const { nativeMinProduct } = settings();
      configure({ nativeMinProduct: 1 });
      try {
        expectClose(await train(ir({ activation: 'softmax' }), y, 4), ref, 1e-5);
      } finally {
        configure({ nativeMinProduct });
      }
    }
    const model = rt.build(ir({ activation: 'softmax' }));
    model.compile({ optimizer: createOptimizer(model, { learningRate: 1e-2, clipNorm: 1 }), loss: 'categoricalCrossentropy' });
    // The fused path ran: none of tf's softmax, clip or log kernels (which the reference runs).
    const { kernelNames } = await tf.profile(() => model.trainOnBatch(x, y));
    expect(kernelNames.filter((k) => ['Softmax', 'ClipByValue', 'Log'].includes(k))).toEqual([]);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await model.trainOnBatch(x, y);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
    y.dispose();
  });

  it('matches tf on a last-step (2-D) head, a linear head, a head without bias, soft targets, and a loss given as a function', async () => {
    const y2 = labels([4]);
    expectClose(await train(ir({ activation: 'softmax' }, true), y2, 3), await reference(ir({ activation: 'softmax' }, true), y2, 3), 1e-5);
    const soft = tf.softmax(randomTensor([4, 6, 3], 9));
    expectClose(await train(ir({ activation: 'softmax', useBias: false }), soft, 3), await reference(ir({ activation: 'softmax', useBias: false }), soft, 3), 1e-5);
    const target = randomTensor([4, 6, 3], 4);
    expectClose(await train(ir({}), target, 3, 'meanSquaredError'), await reference(ir({}), target, 3, 'meanSquaredError'), 1e-5);
    const lossFn = (a: tf.Tensor, b: tf.Tensor) => tfl.metrics.categoricalCrossentropy(a, b);
    expectClose(await train(ir({ activation: 'softmax' }), soft, 3, lossFn), await reference(ir({ activation: 'softmax' }), soft, 3, lossFn), 1e-5);
    tf.dispose([y2, soft, target]);
  });

  it('passes no gradient through a clipped probability, as tf.clipByValue does (a saturated head)', async () => {
    // Large weights push most probabilities below ε = 1e-7 or above 1 − ε.
    const big = ir({ activation: 'softmax', init: 'uniform' });
    const y = labels([4, 6]);
    const run = async () => {
      const model = rt.build(big);
      const dense = model.layers[model.layers.length - 1];
      dense.setWeights(dense.getWeights().map((w) => tf.mul(w, 400)));
      model.compile({ optimizer: createOptimizer(model, { name: 'sgd', learningRate: 0.1 }), loss: 'categoricalCrossentropy' });
      const p = (model.predict(x) as tf.Tensor).dataSync();
      const loss = (await model.trainOnBatch(x, y)) as number;
      const out = { saturated: Array.from(p).filter((v) => v < 1e-7 || v > 1 - 1e-7).length, loss, weights: model.getWeights().map((w) => Array.from(w.dataSync())) };
      model.dispose();
      return out;
    };
    const ours = await run();
    configure({ accel: false });
    installAccel();
    const ref = await run();
    expect(ours.saturated).toBeGreaterThan(20);
    expect(Math.abs(ours.loss - ref.loss)).toBeLessThan(1e-4 * ref.loss);
    ours.weights.forEach((w, i) => w.forEach((v, k) => expect(Math.abs(v - ref.weights[i][k])).toBeLessThan(1e-4 * (1 + Math.abs(ref.weights[i][k])))));
    y.dispose();
  });

  it('has the finite-difference gradient of the cross-entropy with respect to the head input and weights', () => {
    const input = tfl.input({ shape: [5, 2] });
    const model = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 3, activation: 'softmax' }).apply(input) as tfl.SymbolicTensor });
    model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
    const loss = (model as unknown as { lossFunctions: ((a: tf.Tensor, b: tf.Tensor) => tf.Tensor)[] }).lossFunctions[0];
    const dense = model.layers[1];
    const [W, b] = dense.getWeights().map((w) => tf.variable(tf.add(w, randomTensor(w.shape, 2))));
    dense.setWeights([W, b]);
    const h = tf.variable(randomTensor([3, 5, 2], 8));
    const y = tf.softmax(randomTensor([3, 5, 3], 6));
    // The layer reads its own variables: gradients with respect to them, read back by name.
    const vars = [h, ...dense.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val)];
    const f = () => tf.sum(loss(y, dense.apply(h) as tf.Tensor)) as tf.Scalar;
    const { grads } = tf.variableGrads(f, vars);
    for (const v of vars) {
      const g = grads[v.name].dataSync();
      const values = v.dataSync().slice();
      for (let i = 0; i < values.length; i++) {
        const at = (d: number) => {
          const copy = values.slice();
          copy[i] += d;
          v.assign(tf.tensor(copy, v.shape));
          return tf.tidy(() => f().dataSync()[0]);
        };
        const fd = (at(1e-2) - at(-1e-2)) / 2e-2;
        expect(Math.abs(fd - g[i])).toBeLessThan(2e-3 * (1 + Math.abs(fd)));
        v.assign(tf.tensor(values, v.shape));
      }
    }
    tf.dispose([W, b, h, y, ...Object.values(grads)]);
    model.dispose();
  });

  it('is what predict, save → load and the opt-out see: the same outputs, and tf’s Dense.call back when off', async () => {
    const model = rt.build(ir({ activation: 'softmax' }));
    const p = (model.predict(x) as tf.Tensor).dataSync();
    let saved: tf.io.ModelArtifacts | undefined;
    await model.save(tf.io.withSaveHandler(async (a) => ((saved = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(saved!));
    expect(Array.from((loaded.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from(p));
    const dense = Object.getPrototypeOf(model.layers[model.layers.length - 1]) as { call: unknown };
    const fused = dense.call;
    configure({ accel: false });
    installAccel();
    expect(dense.call).not.toBe(fused);
    const q = (model.predict(x) as tf.Tensor).dataSync();
    p.forEach((v, i) => expect(Math.abs(v - q[i])).toBeLessThan(1e-6));
    model.dispose();
    loaded.dispose();
  });
});
