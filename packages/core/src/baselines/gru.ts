import * as tf from '@tensorflow/tfjs-core';
import { defineCell } from '../define-cell.js';
import { concatLast, glorotUniform, orthogonal, zeros } from '../init.js';
import { gruFused } from './gru-kernel.js';

export interface GRUOptions {
  units: number;
}

/**
 * GRU (Cho et al. 2014), reset before the recurrent product, Keras/PyTorch retention
 * convention:
 *   z = σ(x W_z + h U_z + b_z);  r = σ(x W_r + h U_r + b_r)
 *   h̃ = tanh(x W_h + (r ∘ h) U_h + b_h);  h_t = z ∘ h_{t−1} + (1 − z) ∘ h̃
 */
export const GRU = defineCell<GRUOptions>({
  name: 'GRU',
  description: 'Gated recurrent unit (Cho et al. 2014), reset before the recurrent product',
  positional: ['units'],
  source: { paper: 'Cho et al. 2014' },
  schema: {
    type: 'object',
    properties: { units: { type: 'integer', minimum: 1, default: 128, description: 'state size' } },
    additionalProperties: false,
  },
  create({ units: H }, { inputSize }) {
    return {
      state: { h: H },
      outputSize: H,
      params: {
        kernel: { shape: [inputSize, 3 * H], init: glorotUniform() },
        recurrentGates: { shape: [H, 2 * H], init: concatLast([[H, orthogonal()], [H, orthogonal()]]) },
        recurrentCandidate: { shape: [H, H], init: orthogonal() },
        bias: { shape: [3 * H], init: zeros },
      },
      project: (x, p) => {
        const [gates, cand] = tf.split(tf.add(tf.matMul(x, p.kernel), p.bias), [2 * H, H], 1);
        return { gates: gates as tf.Tensor2D, cand: cand as tf.Tensor2D };
      },
      step({ gates, cand }, { h }, p) {
        const [z, r] = tf.split(tf.sigmoid(tf.add(gates, tf.matMul(h, p.recurrentGates as tf.Tensor2D))), 2, 1);
        const hh = tf.tanh(tf.add(cand, tf.matMul(tf.mul(r, h) as tf.Tensor2D, p.recurrentCandidate as tf.Tensor2D)));
        const h2 = tf.add(tf.mul(z, h), tf.mul(tf.sub(1, z), hh)) as tf.Tensor2D;
        return { output: h2, state: { h: h2 }, signals: { update: z, reset: r } };
      },
      signals: ['update', 'reset'],
      fused: gruFused,
    };
  },
});
