import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { GroupedOptimizer, OPTIMIZERS, createOptimizer, defineCell, init, modelCellVariables, modelMultipliers, runtimeOf } from '@cellstack/core';

// Two parameters with different declared learning-rate multipliers.
const Scaled = defineCell<{ units: number }>({
  name: 'ScaledToy',
  description: 'toy with per-parameter learning-rate multipliers',
  schema: { type: 'object', properties: { units: { type: 'integer', minimum: 1, default: 3 } }, additionalProperties: false },
  create: ({ units }, { inputSize }) => ({
    state: { h: units },
    outputSize: units,
    params: {
      slow: { shape: [inputSize, units], init: init.glorotUniform(), lrMultiplier: 0.25 },
      fast: { shape: [units], init: init.zeros, lrMultiplier: 1 },
    },
    project: (x, p) => ({ x: tf.matMul(x, p.slow) }),
    step: ({ x }, { h }, p) => {
      const h2 = tf.tanh(tf.add(tf.add(x, tf.mul(h, 0.5)), p.fast)) as tf.Tensor2D;
      return { output: h2, state: { h: h2 } };
    },
  }),
});

const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' }).use(Scaled);
const ir = { input: { shape: [4, 2] as [number, number] }, layers: [{ cell: 'ScaledToy' }, { type: 'last' as const }, { type: 'dense' as const, units: 1 }], seed: 5 };

describe('GroupedOptimizer', () => {
  // Regression: momentum's inner optimiser was made inside tf.tidy, so its momentum scalar was disposed after step 1.
  it.each(OPTIMIZERS)('%s trains 5 steps on a model with two learning-rate groups, lowering the loss, leaking no tensors', async (name) => {
    const model = rt.build(ir);
    model.compile({ optimizer: createOptimizer(model, { name, learningRate: 0.05, clipNorm: 1 }), loss: 'meanSquaredError' });
    const x = tf.randomUniform([8, 4, 2], -1, 1, 'float32', 7);
    const y = tf.fill([8, 1], 0.5);
    const losses = [(await model.trainOnBatch(x, y)) as number];
    const tensors = tf.memory().numTensors;
    for (let i = 0; i < 4; i++) losses.push((await model.trainOnBatch(x, y)) as number);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[4]).toBeLessThan(losses[0]);
    tf.dispose([x, y]);
    model.optimizer.dispose();
    model.dispose();
  });

  it('moves each group by its multiplier times the base Adam step', async () => {
    const model = rt.build(ir);
    expect([...modelMultipliers(model).values()]).toEqual([0.25]);
    const lr = 0.01;
    model.compile({ optimizer: createOptimizer(model, { learningRate: lr }), loss: 'meanSquaredError' });
    const before = model.getWeights().map((w) => Array.from(w.dataSync()));
    const x = tf.randomUniform([8, 4, 2], -1, 1, 'float32', 1);
    const y = tf.ones([8, 1]);
    await model.trainOnBatch(x, y);
    const after = model.getWeights().map((w) => Array.from(w.dataSync()));
    // Adam's first step moves every weight by lr·g/(|g|+ε) ≈ ±lr (for |g| ≫ ε).
    const steps = after.map((w, i) => w.map((v, j) => Math.abs(v - before[i][j])));
    const names = model.weights.map((w) => w.name);
    const slow = steps[names.findIndex((n) => n.includes('slow'))];
    const fast = steps[names.findIndex((n) => n.includes('fast'))];
    for (const s of slow) expect(s).toBeCloseTo(0.25 * lr, 4);
    for (const s of fast) expect(s).toBeCloseTo(lr, 4);
    tf.dispose([x, y]);
  });

  it('checkpoints its state: a restored optimiser continues exactly', async () => {
    const train = async (model: ReturnType<typeof rt.build>, steps: number) => {
      const x = tf.randomUniform([8, 4, 2], -1, 1, 'float32', 3);
      const y = tf.ones([8, 1]);
      for (let i = 0; i < steps; i++) await model.trainOnBatch(x, y);
      tf.dispose([x, y]);
    };
    const a = rt.build(ir);
    const optA = createOptimizer(a, { learningRate: 0.01 });
    a.compile({ optimizer: optA, loss: 'meanSquaredError' });
    await train(a, 3);
    const slots = await optA.getWeights();
    expect(slots[0].name).toBe('iter');
    expect(slots.some((w) => w.name.startsWith('lr×0.25/'))).toBe(true);
    // A second model with the same weights and the restored optimiser state…
    const b = rt.build(ir);
    b.setWeights(a.getWeights());
    const optB = createOptimizer(b, { learningRate: 0.01 });
    b.compile({ optimizer: optB, loss: 'meanSquaredError' });
    await optB.setWeights(slots);
    expect(optB.iterations).toBe(3);
    // …takes exactly the same next steps.
    await train(a, 2);
    await train(b, 2);
    const wa = a.getWeights().map((w) => Array.from(w.dataSync()));
    expect(b.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(wa);
    await expect(optB.setWeights([{ name: 'iter', tensor: tf.scalar(1) }, { name: 'x/m', tensor: tf.scalar(0) }])).rejects.toThrow(/unexpected slot 'x\/m'/);
  });

  it('clips the global gradient norm', () => {
    const v = tf.variable(tf.tensor1d([0, 0]), true, 'clipTarget');
    const opt = new GroupedOptimizer({ name: 'sgd', learningRate: 1, clipNorm: 1 });
    opt.trackNorm = true;
    opt.applyGradients([{ name: v.name, tensor: tf.tensor1d([3, 4]) }]);
    expect(opt.lastGradNorm).toBeCloseTo(5, 5);
    // SGD with lr 1 moves by the clipped gradient: [3, 4] / 5
    expect(Array.from(v.dataSync())).toEqual([expect.closeTo(-0.6, 5), expect.closeTo(-0.8, 5)]);
    opt.applyGradients([{ name: v.name, tensor: tf.tensor1d([0.3, 0.4]) }]); // under the norm: unchanged
    expect(Array.from(v.dataSync())).toEqual([expect.closeTo(-0.9, 5), expect.closeTo(-1.2, 5)]);
    opt.dispose();
    v.dispose();
  });

  describe("clipScope 'cells'", () => {
    // Two steps of Adam (tfjs: ε 1e-7, bias-corrected) on one scalar's gradients, by hand.
    const adam = (grads: number[], lr: number) => {
      let [w, m, v] = [0, 0, 0];
      grads.forEach((g, i) => {
        m = 0.9 * m + 0.1 * g;
        v = 0.999 * v + 0.001 * g * g;
        w -= (lr * Math.sqrt(1 - 0.999 ** (i + 1))) / (1 - 0.9 ** (i + 1)) * (m / (Math.sqrt(v) + 1e-7));
      });
      return w;
    };

    it('scales only the cells’ gradients, by the cells’ own norm (SGD, hand-computed)', () => {
      const c = tf.variable(tf.tensor1d([0, 0]), true, 'scopeCell');
      const h = tf.variable(tf.tensor1d([0]), true, 'scopeHead');
      const opt = new GroupedOptimizer({ name: 'sgd', learningRate: 1, clipNorm: 1, clipScope: 'cells' }, undefined, ['scopeCell']);
      opt.trackNorm = true;
      opt.applyGradients([{ name: c.name, tensor: tf.tensor1d([3, 4]) }, { name: h.name, tensor: tf.tensor1d([12]) }]);
      // The cell norm is 5: [3, 4] / 5; the head moves by its whole gradient; lastGradNorm stays the global 13.
      expect(Array.from(c.dataSync())).toEqual([expect.closeTo(-0.6, 6), expect.closeTo(-0.8, 6)]);
      expect(h.dataSync()[0]).toBeCloseTo(-12, 5);
      expect(opt.lastGradNorm).toBeCloseTo(13, 5);
      // 'all' (the default) divides both by the global norm 13.
      const all = new GroupedOptimizer({ name: 'sgd', learningRate: 1, clipNorm: 1 }, undefined, ['scopeCell']);
      all.applyGradients([{ name: c.name, tensor: tf.tensor1d([3, 4]) }, { name: h.name, tensor: tf.tensor1d([12]) }]);
      expect(Array.from(c.dataSync())).toEqual([expect.closeTo(-0.6 - 3 / 13, 6), expect.closeTo(-0.8 - 4 / 13, 6)]);
      expect(h.dataSync()[0]).toBeCloseTo(-12 - 12 / 13, 5);
      // A step with no cell gradient (the cell frozen): nothing to clip, the head moves by its whole gradient.
      opt.applyGradients([{ name: h.name, tensor: tf.tensor1d([12]) }]);
      expect(h.dataSync()[0]).toBeCloseTo(-24 - 12 / 13, 4);
      opt.dispose();
      all.dispose();
      tf.dispose([c, h]);
    });

    it('Adam: the head’s update is unclipped Adam, the cell’s is Adam on the cell-clipped gradient (hand-computed, no leaks)', () => {
      const c = tf.variable(tf.tensor1d([0, 0]), true, 'adamCell');
      const h = tf.variable(tf.tensor1d([0]), true, 'adamHead');
      const lr = 0.1;
      const opt = new GroupedOptimizer({ name: 'adam', learningRate: lr, clipNorm: 1, clipScope: 'cells' }, undefined, ['adamCell']);
      // Step 1: cell norm 5 (clipped to [0.6, 0.8]); step 2: cell norm 0.5 (unclipped). Adam is scale-free
      // in one step only, so the second step tells a clipped first gradient from an unclipped one.
      const g1 = [{ name: c.name, tensor: tf.tensor1d([3, 4]) }, { name: h.name, tensor: tf.tensor1d([12]) }];
      opt.applyGradients(g1);
      tf.dispose(g1.map((g) => g.tensor));
      const tensors = tf.memory().numTensors;
      const g2 = [{ name: c.name, tensor: tf.tensor1d([0.3, 0.4]) }, { name: h.name, tensor: tf.tensor1d([1.2]) }];
      opt.applyGradients(g2);
      tf.dispose(g2.map((g) => g.tensor));
      expect(tf.memory().numTensors).toBe(tensors);
      expect(Array.from(c.dataSync())).toEqual([expect.closeTo(adam([0.6, 0.3], lr), 5), expect.closeTo(adam([0.8, 0.4], lr), 5)]);
      expect(h.dataSync()[0]).toBeCloseTo(adam([12, 1.2], lr), 5);
      // …and not what clipping the head with the cell (global norm 13, then 1.3) would give.
      expect(Math.abs(h.dataSync()[0] - adam([12 / 13, 1.2 / 1.3], lr))).toBeGreaterThan(1e-3);
      opt.dispose();
      tf.dispose([c, h]);
    });

    it('createOptimizer finds the cells’ variables (not the head’s) and the scope survives getConfig → fromConfig', () => {
      const model = rt.build(ir);
      const names = modelCellVariables(model);
      expect(names.map((n) => n.replace(/_\d+$/, '')).sort()).toEqual(['scaledtoy_0/fast', 'scaledtoy_0/slow']);
      expect(model.trainableWeights.filter((w) => !names.includes(w.name)).every((w) => w.name.startsWith('dense'))).toBe(true);
      const opt = createOptimizer(model, { learningRate: 0.01, clipNorm: 1, clipScope: 'cells' });
      const back = GroupedOptimizer.fromConfig(GroupedOptimizer, opt.getConfig()) as GroupedOptimizer;
      expect(back.getConfig()).toEqual(opt.getConfig());
      expect(back.options.clipScope).toBe('cells');
      opt.dispose();
      back.dispose();
      model.dispose();
    });

    it('rejects a bad scope, a scope without clipNorm, and cells without a model', () => {
      expect(() => new GroupedOptimizer({ clipNorm: 1, clipScope: 'head' as never })).toThrow("optimizer.clipScope: must be one of 'all' | 'cells' (got \"head\")");
      expect(() => new GroupedOptimizer({ clipScope: 'cells' }, undefined, ['w'])).toThrow("optimizer.clipScope: 'cells' applies only with clipNorm set");
      expect(() => new GroupedOptimizer({ clipNorm: 1, clipScope: 'cells' })).toThrow(/optimizer.clipScope: 'cells' needs the model's cell variables/);
    });
  });

  it('rejects bad options with their path', () => {
    expect(() => new GroupedOptimizer({ name: 'adamw' as never })).toThrow("optimizer.name: must be one of 'adam' | 'sgd' | 'rmsprop' | 'momentum' (got \"adamw\")");
    expect(() => new GroupedOptimizer({ learningRate: 0 })).toThrow('optimizer.learningRate: must be a number > 0 (got 0)');
    expect(() => new GroupedOptimizer({ clipNorm: -1 })).toThrow('optimizer.clipNorm: must be a number > 0 (got -1)');
    expect(() => new GroupedOptimizer({ multipliers: { w: 0 } })).toThrow('optimizer.multipliers.w: must be a number > 0 (got 0)');
  });
});
