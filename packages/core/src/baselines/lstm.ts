import * as tf from '@tensorflow/tfjs-core';
import { defineCell } from '../define-cell.js';
import { chrono, concatLast, constant, glorotUniform, orthogonal, zeros, type Init } from '../init.js';
import { lstmGpu } from './lstm-gpu.js';
import { lstmFused } from './lstm-kernel.js';

export interface LSTMOptions {
  units: number;
  forgetBias: number;
  chrono: boolean;
  tmax: number | null;
}

/** Fallback chrono horizon when neither `tmax` nor the sequence length is known (pixel MNIST). */
const DEFAULT_TMAX = 784;

/**
 * LSTM (Hochreiter & Schmidhuber 1997; forget gate of Gers et al. 2000), gate order
 * i, f, c̃, o as Keras:
 *   i, f, o = σ(x W + h U + b);  c̃ = tanh(x W_c + h U_c + b_c)
 *   c_t = f ∘ c_{t−1} + i ∘ c̃;   h_t = o ∘ tanh(c_t)
 * Forget bias 1 (Jozefowicz et al. 2015), Glorot-uniform input weights, orthogonal
 * recurrent weights per gate block. `chrono: true` instead initialises b_f ~ log U[1, T_max − 1]
 * and b_i = −b_f (Tallec & Ollivier 2018), as the LSTM baselines of the STAR and UR papers.
 */
export const LSTM = defineCell<LSTMOptions>({
  name: 'LSTM',
  description: 'Long short-term memory (forget bias 1), the baseline of every paper',
  positional: ['units'],
  source: { paper: 'Hochreiter & Schmidhuber 1997; Gers et al. 2000' },
  schema: {
    type: 'object',
    properties: {
      units: { type: 'integer', minimum: 1, default: 128, description: 'hidden and cell state size' },
      forgetBias: { type: 'number', default: 1, description: 'initial forget-gate bias (when chrono is off)' },
      chrono: { type: 'boolean', default: false, description: 'chrono initialisation of the forget and input biases' },
      tmax: {
        type: ['integer', 'null'],
        minimum: 3,
        default: null,
        description: `chrono T_max; null = the input's timesteps, else ${DEFAULT_TMAX}`,
      },
    },
    additionalProperties: false,
  },
  create({ units: H, forgetBias, chrono: useChrono, tmax }, { inputSize, timesteps }) {
    const T = tmax ?? (timesteps && timesteps > 2 ? timesteps : DEFAULT_TMAX);
    // Chrono: b_f ~ log U[1, T−1] and b_i = −b_f, drawn once so the two blocks match.
    const bias: Init = useChrono
      ? (shape, rng) => {
          const f = chrono(T)([H], rng);
          const out = new Float32Array(shape[0]);
          for (let j = 0; j < H; j++) {
            out[j] = -f[j];
            out[H + j] = f[j];
          }
          return out;
        }
      : concatLast([[H, zeros], [H, constant(forgetBias)], [H, zeros], [H, zeros]]);
    return {
      state: { h: H, c: H },
      outputSize: H,
      params: {
        kernel: { shape: [inputSize, 4 * H], init: glorotUniform() },
        recurrent: { shape: [H, 4 * H], init: concatLast([[H, orthogonal()], [H, orthogonal()], [H, orthogonal()], [H, orthogonal()]]) },
        bias: { shape: [4 * H], init: bias },
      },
      project: (x, p) => ({ x: tf.add(tf.matMul(x, p.kernel), p.bias) }),
      step({ x }, { h, c }, p) {
        const z = tf.add(x, tf.matMul(h, p.recurrent as tf.Tensor2D));
        const [zi, zf, zc, zo] = tf.split(z, 4, 1);
        const i = tf.sigmoid(zi);
        const f = tf.sigmoid(zf);
        const o = tf.sigmoid(zo);
        const c2 = tf.add(tf.mul(f, c), tf.mul(i, tf.tanh(zc))) as tf.Tensor2D;
        const h2 = tf.mul(o, tf.tanh(c2)) as tf.Tensor2D;
        return { output: h2, state: { h: h2, c: c2 }, signals: { input: i, forget: f, output: o, c: c2 } };
      },
      signals: ['input', 'forget', 'output', 'c'],
      fused: lstmFused,
      gpuFused: lstmGpu,
    };
  },
});
