import * as tf from '@tensorflow/tfjs-core';
import { defineCell } from '../define-cell.js';
import { chrono, concatLast, glorotUniform, orthogonal, zeros } from '../init.js';
import { janetFused } from './janet-kernel.js';

export type JANETForm = 'janet' | 'star';

export interface JANETOptions {
  units: number;
  form: JANETForm;
  beta: number | null;
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
 * `form: 'star'` is the STAR paper's "LSTM w/f" (Turkoglu et al. 2021, App. A.3 eq. 24):
 *   h_t = tanh(σ(s) ∘ h_{t−1} + (1 − σ(s − β)) ∘ c̃) with β = 0 unless given.
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
      form: {
        enum: ['janet', 'star'],
        default: 'janet',
        description: "'janet': the original update; 'star': the STAR paper's LSTM w/f (App. A.3 eq. 24), an outer tanh on the update and beta 0",
      },
      beta: { type: ['number', 'null'], default: null, description: "shift between the forget and input gates; null = 1 for form 'janet', 0 for form 'star'" },
      tmax: {
        type: ['integer', 'null'],
        minimum: 3,
        default: null,
        description: `chrono T_max; null = the input's timesteps, else ${DEFAULT_TMAX}`,
      },
    },
    additionalProperties: false,
  },
  create({ units: H, form, beta: betaOption, tmax }, { inputSize, timesteps }) {
    const beta = betaOption ?? (form === 'star' ? 0 : 1);
    const outerTanh = form === 'star';
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
        const update = tf.add(tf.mul(f, h), tf.mul(tf.sub(1, tf.sigmoid(tf.sub(s, beta))), tf.tanh(zc)));
        const h2 = (outerTanh ? tf.tanh(update) : update) as tf.Tensor2D;
        return { output: h2, state: { h: h2 }, signals: { forget: f } };
      },
      signals: ['forget'],
      // The kernel computes the original form; 'star' runs the step loop.
      fused: outerTanh ? undefined : janetFused(beta),
    };
  },
});
