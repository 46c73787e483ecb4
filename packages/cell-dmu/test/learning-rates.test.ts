import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createOptimizer, createRng, runtimeOf } from '@cellstack/core';
import { addingHSTask, toTensors } from '@cellstack/tasks';
import { DMU } from '../src/index.js';

const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' }).use(DMU);
const task = addingHSTask({ length: 12 });
const LR = 0.01;

/** Weights before and after one Adam step on a fixed batch, by parameter name (`kernel2`, `dense_1/kernel`, …). */
async function oneStep(depthScaledLr: boolean) {
  const model = rt.build({ input: { shape: task.inputShape }, layers: [{ cell: 'DMU', options: { units: 3, layers: [4, 5], depthScaledLr } }, { type: 'last' }, { type: 'dense', units: 1 }], seed: 7 });
  const optimizer = createOptimizer(model, { name: 'adam', learningRate: LR });
  model.compile({ optimizer, loss: task.loss });
  const read = () => new Map(model.weights.map((w) => [w.originalName, w.read().dataSync().slice()]));
  const before = read();
  const { x, y } = toTensors(task.batch(16, createRng(3)));
  await model.trainOnBatch(x, y);
  tf.dispose([x, y]);
  const after = read();
  const delta = new Map([...before].map(([k, v]) => [k, v.map((w, i) => after.get(k)![i] - w)]));
  return { before, delta, optimizer, model };
}

describe('DMU depth-scaled learning rates', () => {
  it('after one Adam step from the same gradients, FNN layer i moved by exactly 1/(n+1−i) times the base step', async () => {
    const scaled = await oneStep(true);
    const base = await oneStep(false);
    // Same seed, same data: identical starting weights, so identical gradients.
    for (const [k, v] of base.before) expect(Array.from(scaled.before.get(k)!)).toEqual(Array.from(v));

    const layerOf = (name: string) => Number(/kernel(\d)|bias(\d)/.exec(name)?.slice(1).find(Boolean));
    let checked = 0;
    for (const [name, db] of base.delta) {
      const ds = scaled.delta.get(name)!;
      // n = 3 FNN layers: rates 1/3, 1/2, 1 of the base; the dense readout keeps the base rate.
      const m = name.startsWith('dmu') ? [1 / 3, 1 / 2, 1][layerOf(name) - 1] : 1;
      expect(scaled.optimizer.multiplierOf(scaled.model.weights.find((w) => w.originalName === name)!.name)).toBeCloseTo(m, 12);
      db.forEach((b, i) => {
        // Adam's first step is lr·g/(|g| + ε): ≈ lr for any visible gradient.
        expect(Math.abs(b)).toBeLessThanOrEqual(LR * 1.0001);
        expect(Math.abs(ds[i] - m * b), `${name}[${i}]`).toBeLessThanOrEqual(2e-4 * Math.abs(b) + 1e-8);
      });
      checked += db.length;
    }
    expect(new Set([...base.delta.keys()].filter((k) => k.startsWith('dmu')).map(layerOf))).toEqual(new Set([1, 2, 3]));
    expect(checked).toBeGreaterThan(50);
    // The base step really is Adam's: most entries moved by the full rate.
    const all = [...base.delta.values()].flatMap((v) => Array.from(v, Math.abs)).sort((a, b) => a - b);
    expect(all[Math.floor(all.length / 2)]).toBeCloseTo(LR, 5);
    scaled.model.dispose();
    base.model.dispose();
  });
});
