import * as tf from '@tensorflow/tfjs-core';
import { defineCell } from '../define-cell.js';
import { chrono, concatLast, glorotUniform, orthogonal, zeros } from '../init.js';
import { janetFused } from './janet-kernel.js';

export interface JANETOptions {
  units: number;
  beta: number;
  tmax: number | null;
}

/** Fallback chrono horizon when neither `tmax` nor the sequence length is known (pixel MNIST). */
const DEFAULT_TMAX = 784;

/**
 * JANET, "LSTM with only a forget gate" (van der Westhuizen & Lasenby 2018; "LSTM w/f"
 * in the STAR and NRU papers):
 *   s = x W_f + h U_f + b_f;  c̃ = tanh(x W_c + h U_c + b_c)
 *   h_t = σ(s) ∘ h_{t−1} + (1 − σ(s − β)) ∘ c̃
 * with chrono initialisation of b_f (T_max = the sequence length) and β = 1.
 */
export const JANET = defineCell<JANETOptions>({
  name: 'JANET',
  description: 'LSTM with only a forget gate ("LSTM w/f"), chrono-initialised',
  positional: ['units'],
  source: { paper: 'van der Westhuizen & Lasenby 2018, "The unreasonable effectiveness of the forget gate"' },
  schema: {
    type: 'object',
    properties: {
      units: { type: 'integer', minimum: 1, default: 128, description: 'state size' },
      beta: { type: 'number', default: 1, description: 'shift between the forget and input gates' },
      tmax: {
        type: ['integer', 'null'],
        minimum: 3,
        default: null,
        description: `chrono T_max; null = the input's timesteps, else ${DEFAULT_TMAX}`,
      },
    },
    additionalProperties: false,
  },
  create({ units: H, beta, tmax }, { inputSize, timesteps }) {
    const T = tmax ?? (timesteps && timesteps > 2 ? timesteps : DEFAULT_TMAX);
    return {
      state: { h: H },
      outputSize: H,
      params: {
        kernel: { shape: [inputSize, 2 * H], init: glorotUniform() },
        recurrent: { shape: [H, 2 * H], init: concatLast([[H, orthogonal()], [H, orthogonal()]]) },
        bias: { shape: [2 * H], init: concatLast([[H, chrono(T)], [H, zeros]]) },
      },
      project: (x, p) => ({ x: tf.add(tf.matMul(x, p.kernel), p.bias) }),
      step({ x }, { h }, p) {
        const [s, zc] = tf.split(tf.add(x, tf.matMul(h, p.recurrent as tf.Tensor2D)), 2, 1);
        const f = tf.sigmoid(s);
        const h2 = tf.add(tf.mul(f, h), tf.mul(tf.sub(1, tf.sigmoid(tf.sub(s, beta))), tf.tanh(zc))) as tf.Tensor2D;
        return { output: h2, state: { h: h2 }, signals: { forget: f } };
      },
      signals: ['forget'],
      fused: janetFused(beta),
    };
  },
});
