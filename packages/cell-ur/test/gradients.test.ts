import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { buildCell, forward, gradCheck, randomArray3 } from '@cellstack/core/testing';
import { URGRU, URLSTM } from '../src/index.js';
import { PRESET_NAMES } from './reference.js';

// d = 4 units with master chunk 2, 3 steps, batch 2; the loss reaches every parameter
// through time. Relative error bound 2e-2 in float32 (project standard).
describe.each(PRESET_NAMES)("preset '%s': gradients match finite differences", (preset) => {
  it.each([
    ['URLSTM', URLSTM],
    ['URGRU', URGRU],
  ] as const)('%s', (_name, plugin) => {
    const cell = buildCell(plugin, { units: 4, preset, chunkSize: 2 }, { inputSize: 2, seed: 4 });
    const x = tf.variable(tf.tensor3d(randomArray3(2, 3, 2, 5)));
    const loss = () => tf.tidy(() => tf.sum(tf.square(forward(cell, x))) as tf.Scalar);
    const r = gradCheck(loss, { ...cell.params, x });
    expect(r.maxRelError, r.worst).toBeLessThan(2e-2);
    cell.dispose();
    x.dispose();
  });
});
