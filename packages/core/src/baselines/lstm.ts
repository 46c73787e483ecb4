import * as tf from '@tensorflow/tfjs-core';
import { defineCell } from '../define-cell.js';
import { concatLast, constant, glorotUniform, orthogonal, zeros } from '../init.js';

export interface LSTMOptions {
  units: number;
  forgetBias: number;
}

/**
 * LSTM (Hochreiter & Schmidhuber 1997; forget gate of Gers et al. 2000), gate order
 * i, f, c̃, o as Keras:
 *   i, f, o = σ(x W + h U + b);  c̃ = tanh(x W_c + h U_c + b_c)
 *   c_t = f ∘ c_{t−1} + i ∘ c̃;   h_t = o ∘ tanh(c_t)
 * Forget bias 1 (Jozefowicz et al. 2015), Glorot-uniform input weights, orthogonal
 * recurrent weights per gate block.
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
      forgetBias: { type: 'number', default: 1, description: 'initial forget-gate bias' },
    },
    additionalProperties: false,
  },
  create({ units: H, forgetBias }, { inputSize }) {
    return {
      state: { h: H, c: H },
      outputSize: H,
      params: {
        kernel: { shape: [inputSize, 4 * H], init: glorotUniform() },
        recurrent: { shape: [H, 4 * H], init: concatLast([[H, orthogonal()], [H, orthogonal()], [H, orthogonal()], [H, orthogonal()]]) },
        bias: { shape: [4 * H], init: concatLast([[H, zeros], [H, constant(forgetBias)], [H, zeros], [H, zeros]]) },
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
    };
  },
});
