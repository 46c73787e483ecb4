import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { runtimeOf } from '@cellstack/core';

const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' });
const build = (init?: 'glorot' | 'uniform') =>
  rt.build({ input: { shape: [3, 64] }, layers: [{ cell: 'LSTM', options: { units: 100 } }, { type: 'dense', units: 50, ...(init ? { init } : {}) }], seed: 4 });
const weights = (model: ReturnType<typeof build>) => {
  const [kernel, bias] = model.layers[model.layers.length - 1].getWeights().map((w) => Array.from(w.dataSync()));
  return { kernel, bias };
};

describe('dense init', () => {
  it("'uniform': kernel and bias U(±1/√inputs) like PyTorch's nn.Linear (inputs = 100 here)", () => {
    const model = build('uniform');
    const { kernel, bias } = weights(model);
    const k = 0.1;
    for (const v of [...kernel, ...bias]) expect(Math.abs(v)).toBeLessThanOrEqual(k);
    // variance of U(±k) is k²/3 (5000 kernel values: within 10 %)
    const variance = kernel.reduce((a, v) => a + v * v, 0) / kernel.length;
    expect(variance / (k * k / 3)).toBeGreaterThan(0.9);
    expect(variance / (k * k / 3)).toBeLessThan(1.1);
    expect(bias.some((v) => v !== 0)).toBe(true);
    model.dispose();
  });

  it("'glorot' (default): glorot-uniform kernel (limit √(6/150) = 0.2), zero bias", () => {
    for (const model of [build(), build('glorot')]) {
      const { kernel, bias } = weights(model);
      expect(Math.max(...kernel.map(Math.abs))).toBeLessThanOrEqual(0.2);
      expect(Math.max(...kernel.map(Math.abs))).toBeGreaterThan(0.15);
      expect(bias.every((v) => v === 0)).toBe(true);
      model.dispose();
    }
  });

  it('rejects an unknown init, naming the option path and the allowed values', () => {
    expect(() => rt.build({ input: { shape: [3, 4] }, layers: [{ type: 'dense', units: 2, init: 'he' }] })).toThrow(/layers\[0\]\.init.*'glorot' \| 'uniform'/);
  });
});
