import * as tf from '@tensorflow/tfjs-core';
import { defineCell, init } from '@cellstack/core';

export interface MGUOptions {
  units: number;
}

/**
 * MGU, the minimal gated unit (Zhou et al. 2016, "Minimal gated unit for recurrent neural
 * networks"): one forget gate does the work of GRU's two.
 *   f = σ(x W_f + h U_f + b_f)
 *   h̃ = tanh(x W_h + (f ∘ h) U_h + b_h)
 *   h_t = (1 − f) ∘ h + f ∘ h̃
 * No C: on CPU-memory backends the core traces `step` into a whole-sequence kernel.
 */
export const MGU = defineCell<MGUOptions>({
  name: 'MGU',
  description: 'Minimal gated unit (Zhou et al. 2016): one forget gate',
  positional: ['units'],
  source: { paper: 'Zhou, Wu, Zhang & Zhou, "Minimal gated unit for recurrent neural networks" (2016)' },
  schema: {
    type: 'object',
    properties: { units: { type: 'integer', minimum: 1, default: 64, description: 'state size' } },
    additionalProperties: false,
  },
  create: ({ units: H }, { inputSize }) => ({
    state: { h: H },
    outputSize: H,
    params: {
      kernel: { shape: [inputSize, 2 * H], init: init.glorotUniform() },
      recurrentGate: { shape: [H, H], init: init.orthogonal() },
      recurrentCandidate: { shape: [H, H], init: init.orthogonal() },
      bias: { shape: [2 * H], init: init.zeros },
    },
    // Both input products of all steps in one matmul.
    project: (x, p) => {
      const [gate, cand] = tf.split(tf.add(tf.matMul(x, p.kernel), p.bias), 2, 1);
      return { gate: gate as tf.Tensor2D, cand: cand as tf.Tensor2D };
    },
    step: ({ gate, cand }, { h }, p) => {
      const f = tf.sigmoid(tf.add(gate, tf.matMul(h, p.recurrentGate as tf.Tensor2D)));
      const hh = tf.tanh(tf.add(cand, tf.matMul(tf.mul(f, h) as tf.Tensor2D, p.recurrentCandidate as tf.Tensor2D)));
      // (1 − f) h + f h̃ written as h + f (h̃ − h).
      const h2 = tf.add(h, tf.mul(f, tf.sub(hh, h))) as tf.Tensor2D;
      return { output: h2, state: { h: h2 }, signals: { forget: f } };
    },
    signals: ['forget'],
  }),
});

/** What `cellstack` loads from a plugin package: its cells. */
export const cells = [MGU];
