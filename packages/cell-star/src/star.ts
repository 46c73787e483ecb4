import * as tf from '@tensorflow/tfjs-core';
import { defineCell, init, type Init } from '@cellstack/core';
import { starFused } from './kernel.js';

export type STARVariant = 'paper' | 'official';

export interface STAROptions {
  units: number;
  variant: STARVariant;
  chrono: boolean;
  tmax: number | null;
}

/** The chrono horizon the authors' code hard-wires (`self.t_max = 784`, pixel MNIST). */
export const CODE_TMAX = 784;

/** The chrono horizon a cell uses: the option, else the sequence length, else 784. */
export function resolveTmax(tmax: number | null, timesteps: number | null): number {
  return tmax ?? (timesteps !== null && timesteps > 2 ? timesteps : CODE_TMAX);
}

/**
 * Initial gate bias b_k. Paper: k weighs NEW content, so chrono (Tallec & Ollivier 2018)
 * keeps k small: b_k = −log U(1, tmax − 1), i.e. retention 1 − k = τ/(1+τ).
 * Official: the code's gate is the retention σ(f), so its chrono is b_K = +log U(1, tmax)
 * (code's `chrono_init`). Without chrono: 0 (paper), 1 (the code's `bias_initializer`).
 */
export function gateBiasInit({ variant, chrono, tmax }: Pick<STAROptions, 'variant' | 'chrono'> & { tmax: number }): Init {
  if (variant === 'paper') return chrono ? init.mapInit(init.chrono(tmax), (v) => -v) : init.zeros;
  if (!chrono) return init.constant(1);
  return (shape, rng) => Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => Math.log(rng.uniform(1, tmax)));
}

/**
 * STAR, the STAckable Recurrent cell (Turkoglu et al., "Gating revisited: deep
 * multi-layer RNNs that can be trained", eqs 10–12):
 *   z_t = tanh(W_z x_t + b_z)
 *   k_t = σ(W_x x_t + W_h h_{t−1} + b_k)
 *   h_t = tanh((1 − k_t) ∘ h_{t−1} + k_t ∘ z_t)
 * `variant: 'official'` is the authors' TensorFlow code (star.py, STARCell):
 *   f = W_x x_t + W_h h_{t−1} + b_K;  h_t = tanh(σ(f) ∘ h_{t−1} + (1 − σ(f − 1)) ∘ z_t)
 * Parameters (both variants): kernel [in, 2H] = [W_z | W_x], recurrent W_h [H, H],
 * bias [2H] = [b_z | b_k]. Signal `k` is the weight of new content in both variants
 * (official: 1 − σ(f − 1)).
 */
export const STAR = defineCell<STAROptions>({
  name: 'STAR',
  description: 'STAckable Recurrent cell: one gate, no cell state, trainable 16+ layers deep',
  positional: ['units'],
  source: {
    paper: 'Turkoglu et al., "Gating revisited: deep multi-layer RNNs that can be trained" (TPAMI 2021)',
    url: 'https://github.com/0zgur0/STAckable-Recurrent-network',
  },
  schema: {
    type: 'object',
    properties: {
      units: { type: 'integer', minimum: 1, default: 128, description: 'state size (paper: 128 on pixel MNIST)' },
      variant: {
        enum: ['paper', 'official'],
        default: 'paper',
        description: "'paper': h = tanh((1−k)h + k z) (eqs 10–12); 'official': the authors' code, h = tanh(σ(f)h + (1−σ(f−1))z)",
      },
      chrono: {
        type: 'boolean',
        default: true,
        description: 'chrono initialisation of the gate bias (paper C.1, code default); false: b_k = 0 (paper) / b_K = 1 (code)',
      },
      tmax: {
        type: ['integer', 'null'],
        minimum: 3,
        default: null,
        description: `chrono T_max; null = the input's timesteps when known, else ${CODE_TMAX} (the authors' code hard-wires ${CODE_TMAX})`,
      },
    },
    additionalProperties: false,
  },
  validate({ chrono, tmax }) {
    if (!chrono && tmax !== null) return { path: 'tmax', message: `only applies with chrono: true (got tmax ${tmax} with chrono: false)` };
    return undefined;
  },
  create({ units: H, variant, chrono, tmax }, { inputSize, timesteps }) {
    const bk = gateBiasInit({ variant, chrono, tmax: resolveTmax(tmax, timesteps) });
    const params = {
      kernel: { shape: [inputSize, 2 * H], init: init.concatLast([[H, init.orthogonal()], [H, init.orthogonal()]]) },
      recurrent: { shape: [H, H], init: init.orthogonal() },
      bias: { shape: [2 * H], init: init.concatLast([[H, init.zeros], [H, bk]]) },
    };
    // Everything input-only in one matmul: z_t (already through tanh) and the gate's input part.
    const project = (x: tf.Tensor2D, p: Record<string, tf.Tensor>) => {
      const [zPre, gate] = tf.split(tf.add(tf.matMul(x, p.kernel as tf.Tensor2D), p.bias), 2, 1);
      return { z: tf.tanh(zPre) as tf.Tensor2D, gate: gate as tf.Tensor2D };
    };
    if (variant === 'paper') {
      return {
        state: { h: H },
        outputSize: H,
        params,
        project,
        step({ z, gate }, { h }, p) {
          const k = tf.sigmoid(tf.add(gate, tf.matMul(h, p.recurrent as tf.Tensor2D)));
          // (1 − k) h + k z written as h + k (z − h): one op fewer.
          const h2 = tf.tanh(tf.add(h, tf.mul(k, tf.sub(z, h)))) as tf.Tensor2D;
          return { output: h2, state: { h: h2 }, signals: { k } };
        },
        signals: ['k'],
        fused: starFused(false),
      };
    }
    return {
      state: { h: H },
      outputSize: H,
      params,
      project,
      step({ z, gate }, { h }, p) {
        const f = tf.add(gate, tf.matMul(h, p.recurrent as tf.Tensor2D));
        const k = tf.sub(1, tf.sigmoid(tf.sub(f, 1)));
        const h2 = tf.tanh(tf.add(tf.mul(tf.sigmoid(f), h), tf.mul(k, z))) as tf.Tensor2D;
        return { output: h2, state: { h: h2 }, signals: { k } };
      },
      signals: ['k'],
      fused: starFused(true),
    };
  },
});
