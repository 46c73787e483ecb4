import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { buildCell, forward, gradCheck, randomArray3 } from '@cellstack/core/testing';
import { NRU, type NRUOptions } from '../src/index.js';
import { pack, randomWeights } from './reference.js';

// Default (authors' code) options and the alternatives; k 4 and k 1. Memory 16 gives each
// head two rows of the shared outer product: with one row (memory 4, k 4) a head's
// normalised direction depends on its p only through sign(p), a jump that finite
// differences straddle. ReLU directions have the same kind of jump wherever a head keeps
// only a few non-zero entries, so useRelu is checked on its own at the shared layout.
const defaults: NRUOptions = { hidden: 3, memory: 16, heads: 4, headReduce: 'mean', headInputs: 'hm', outerProduct: 'shared', useRelu: false, layerNorm: false, memoryInit: 'torch' };
const alternatives: NRUOptions = { ...defaults, headReduce: 'sum', headInputs: 'xhm', outerProduct: 'perHead', layerNorm: true };
const cases: Array<[string, NRUOptions]> = [
  ['defaults, k 4', defaults],
  ['defaults, k 1', { ...defaults, heads: 1 }],
  ['sum, xhm, perHead, layerNorm, k 4', alternatives],
  ['sum, xhm, perHead, layerNorm, k 1', { ...alternatives, heads: 1 }],
  ['useRelu, k 4', { ...defaults, useRelu: true }],
];

describe('NRU gradients match finite differences (every weight and the input)', () => {
  it.each(cases)('%s', (_, options) => {
    // Layer norm on 3 units divides by the spread of tiny pre-activations at the default init,
    // which makes the loss too curved for finite differences; there, use weights U(±0.5) and a
    // layer-norm bias of 2 (> √(hidden−1), the largest normalised magnitude) so that every
    // ReLU of h stays in its linear part.
    const values = options.layerNorm ? { ...pack(options, randomWeights(options, 2, 4), 2), lnBias: [2, 2, 2] } : {};
    const cell = buildCell(NRU, options as unknown as Record<string, unknown>, { inputSize: 2, seed: 4, values });
    const x = tf.variable(tf.tensor3d(randomArray3(2, 5, 2, 5)));
    // A fixed random readout of every step's h, so no gradient cancels by symmetry.
    const readout = tf.tensor2d(randomArray3(1, 3, 1, 9).flat(2), [3, 1]);
    const loss = () =>
      tf.tidy(() => {
        const h = forward(cell, x);
        // Means, not sums: a loss of O(1) keeps float32 rounding of the differences small.
        return tf.add(tf.mean(tf.square(h)), tf.mean(tf.matMul(tf.reshape(h, [-1, 3]), readout))) as tf.Scalar;
      });
    const vars = { ...cell.params, x };
    // At the default init, eps 1e-3, not 1e-2: pre-activations are small and a ±1e-2 step
    // straddles ReLU kinks (of h, and of the directions with useRelu); the O(1) loss keeps
    // float32 rounding at this eps around 1e-5. The layer-norm case has no kinks in h and a
    // larger loss, so it keeps eps 1e-2.
    const r = gradCheck(loss, vars, { perVariable: 16, eps: options.layerNorm ? 1e-2 : 1e-3 });
    expect(r.checked).toBe(Object.values(vars).reduce((n, v) => n + Math.min(v.size, 16), 0));
    expect(r.maxRelError, r.worst).toBeLessThan(2e-2);
    cell.dispose();
    tf.dispose([x, readout]);
  });
});
