import * as tf from '@tensorflow/tfjs-core';
import { defineCell } from '../define-cell.js';
import { glorotUniform, orthogonal, zeros } from '../init.js';
import { simpleRnnFused } from './simple-rnn-kernel.js';

export interface SimpleRNNOptions {
  units: number;
}

/** Elman RNN: h_t = tanh(x W + h_{t−1} U + b). */
export const SimpleRNN = defineCell<SimpleRNNOptions>({
  name: 'SimpleRNN',
  description: 'Vanilla (Elman) RNN with tanh',
  positional: ['units'],
  source: { paper: 'Elman 1990' },
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
        kernel: { shape: [inputSize, H], init: glorotUniform() },
        recurrent: { shape: [H, H], init: orthogonal() },
        bias: { shape: [H], init: zeros },
      },
      project: (x, p) => ({ x: tf.add(tf.matMul(x, p.kernel), p.bias) }),
      step({ x }, { h }, p) {
        const h2 = tf.tanh(tf.add(x, tf.matMul(h, p.recurrent as tf.Tensor2D))) as tf.Tensor2D;
        return { output: h2, state: { h: h2 } };
      },
      fused: simpleRnnFused,
    };
  },
});
