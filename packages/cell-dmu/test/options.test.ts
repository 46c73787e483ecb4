import { describe, expect, it } from 'vitest';
import { runtimeOf } from '@cellstack/core';
import * as tf from '@tensorflow/tfjs-core';
import { DMU, cells } from '../src/index.js';

const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' }).use(DMU);
const build = (options: Record<string, unknown>) =>
  rt.build({ input: { shape: [4, 2] }, layers: [{ cell: 'DMU', options }, { type: 'last' }, { type: 'dense', units: 1 }], seed: 1 });

describe('DMU options', () => {
  it('fills the documented defaults', () => {
    expect(DMU.resolveOptions({})).toEqual({ units: 100, layers: null, activation: 'leakyRelu', candidateActivation: 'tanh', zBias: 3, depthScaledLr: true });
    expect(rt.cells().find((c) => c.name === 'DMU')?.positional).toEqual(['units']);
    expect(cells).toEqual([DMU]);
  });

  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ units: 0 }, /layers\[0\]\.options\.units: must be an integer >= 1 \(got 0\)/],
    [{ units: 2.5 }, /layers\[0\]\.options\.units: must be an integer >= 1/],
    [{ layers: 5 }, /layers\[0\]\.options\.layers: must be an array of integers >= 1 or null \(got 5\)/],
    [{ layers: [10, 0] }, /layers\[0\]\.options\.layers\[1\]: must be an integer >= 1 \(got 0\)/],
    [{ activation: 'gelu' }, /layers\[0\]\.options\.activation: must be one of 'leakyRelu' \| 'relu' \| 'tanh' \| 'sigmoid' \| 'linear' \(got 'gelu'\)/],
    [{ candidateActivation: 'relu' }, /layers\[0\]\.options\.candidateActivation: must be one of 'tanh' \| 'sigmoid' \| 'softsign' \| 'linear'/],
    [{ zBias: 'big' }, /layers\[0\]\.options\.zBias: must be a number \(got 'big'\)/],
    [{ depthScaledLr: 1 }, /layers\[0\]\.options\.depthScaledLr: must be true or false \(got 1\)/],
    [{ depthScaling: true }, /layers\[0\]\.options\.depthScaling: unknown option 'depthScaling'; allowed: units, layers, activation, candidateActivation, zBias, depthScaledLr \(did you mean 'depthScaledLr'\?\)/],
  ];
  for (const [options, message] of bad) {
    it(`rejects ${JSON.stringify(options)} naming the option path`, () => {
      expect(() => build(options)).toThrow(message);
    });
  }

  it('accepts the paper’s notation (10, 20, 10) as layers [10, 20] with units 10, and [] for the output layer alone', () => {
    const m = build({ units: 10, layers: [10, 20] });
    const shapes = Object.fromEntries(m.weights.filter((w) => w.originalName.startsWith('dmu')).map((w) => [w.originalName.split('/').pop(), w.shape]));
    expect(shapes).toEqual({ kernel1_x: [2, 10], kernel1_h: [10, 10], bias1: [10], kernel2: [10, 20], bias2: [20], kernel3: [20, 20], bias3: [20] });
    const flat = build({ units: 3, layers: [] });
    expect(flat.weights.filter((w) => w.originalName.startsWith('dmu')).map((w) => w.shape)).toEqual([[2, 6], [3, 6], [6]]);
  });
});
