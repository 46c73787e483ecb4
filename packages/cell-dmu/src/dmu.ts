import * as tf from '@tensorflow/tfjs-core';
import { defineCell, init, type Init, type ParamSpec } from '@cellstack/core';
import { dmuFused } from './kernel.js';

export type HiddenActivation = 'leakyRelu' | 'relu' | 'tanh' | 'sigmoid' | 'linear';
export type CandidateActivation = 'tanh' | 'sigmoid' | 'softsign' | 'linear';

export interface DMUOptions {
  units: number;
  /** Hidden widths of the feed-forward block; null = one hidden layer of `units`. */
  layers: number[] | null;
  activation: HiddenActivation;
  candidateActivation: CandidateActivation;
  zBias: number;
  depthScaledLr: boolean;
}

/** LeakyReLU slope of the authors' code (PyTorch's default 0.01). */
const LEAKY_SLOPE = 0.01;

const hidden: Record<HiddenActivation, (x: tf.Tensor) => tf.Tensor> = {
  leakyRelu: (x) => tf.leakyRelu(x, LEAKY_SLOPE),
  relu: (x) => tf.relu(x),
  tanh: (x) => tf.tanh(x),
  sigmoid: (x) => tf.sigmoid(x),
  linear: (x) => x,
};

/** torch.nn.init.calculate_gain, which the authors' Xavier init uses. */
const gains: Record<HiddenActivation, number> = {
  leakyRelu: Math.sqrt(2 / (1 + LEAKY_SLOPE ** 2)),
  relu: Math.SQRT2,
  tanh: 5 / 3,
  sigmoid: 1,
  linear: 1,
};

const candidate: Record<CandidateActivation, (x: tf.Tensor) => tf.Tensor> = {
  tanh: (x) => tf.tanh(x),
  sigmoid: (x) => tf.sigmoid(x),
  softsign: (x) => tf.div(x, tf.add(1, tf.abs(x))),
  linear: (x) => x,
};

/**
 * Xavier-uniform for one block of rows of a [fanIn, fanOut] matrix: the first layer's
 * matrix is stored as an x part and an h part, each drawn with the whole matrix's limit.
 */
const xavierPart = (fanIn: number, fanOut: number, gain: number): Init => {
  const lim = gain * Math.sqrt(6 / (fanIn + fanOut));
  return init.uniform(-lim, lim);
};

/** The FNN widths c_1 … c_n (the last is 2d: z and h̃). */
export function blockWidths({ units, layers }: Pick<DMUOptions, 'units' | 'layers'>): number[] {
  return [...(layers ?? [units]), 2 * units];
}

/** Learning-rate multiplier of FNN layer i (1-based) of n: 1/(n + 1 − i), so the output layer keeps the base rate. */
export const depthMultiplier = (i: number, n: number) => 1 / (n + 1 - i);

/**
 * Deep Memory Update (Neumann, Lepak, Rypeś, Wawrzyński). A feed-forward block of n
 * layers maps [x_t, h_{t−1}] to 2d linear outputs [z_t, h̃_t]:
 *   a_0 = [x_t, h_{t−1}];  a_i = φ(a_{i−1} W_i + b_i), i < n;  [z, h̃] = a_{n−1} W_n + b_n
 *   h_t = σ(z) ∘ h_{t−1} + (1 − σ(z)) ∘ f(h̃)
 * W_1 is stored as its x rows (applied to all steps at once in `project`) and its h rows.
 */
export const DMU = defineCell<DMUOptions>({
  name: 'DMU',
  description: 'Deep Memory Update: a deep feed-forward transition gated into the memory, depth-scaled learning rates',
  positional: ['units'],
  source: { paper: 'Neumann, Lepak, Rypeś & Wawrzyński, Deep Memory Update', url: 'https://github.com/fuine/dmu' },
  schema: {
    type: 'object',
    properties: {
      units: { type: 'integer', minimum: 1, default: 100, description: 'memory size d (state and output); 100 as the paper’s one-layer real-data runs' },
      layers: {
        type: ['array', 'null'],
        items: { type: 'integer', minimum: 1 },
        default: null,
        description:
          'hidden widths of the feed-forward block before its linear 2d output layer: [10, 20] is the paper’s (10, 20, 10); [] = the output layer alone (the code’s cells_sizes=[d]); null = one hidden layer of `units`, as the paper’s adding setup ((5, 5))',
      },
      activation: {
        enum: ['leakyRelu', 'relu', 'tanh', 'sigmoid', 'linear'],
        default: 'leakyRelu',
        description: 'hidden-layer activation; LeakyReLU(0.01) as the authors’ code (the paper leaves it open)',
      },
      candidateActivation: {
        enum: ['tanh', 'sigmoid', 'softsign', 'linear'],
        default: 'tanh',
        description: 'f applied to h̃ before it enters the memory; tanh as the paper’s example and the code',
      },
      zBias: {
        type: 'number',
        default: 3,
        description: 'added to the initial bias of z so the memory is preserved by default; 3 as the paper’s example and the authors’ synthetic runs (their code’s default is 0)',
      },
      depthScaledLr: {
        type: 'boolean',
        default: true,
        description: 'learning rate of FNN layer i of n scaled by 1/(n+1−i), as the paper recommends (the authors’ code uses one rate)',
      },
    },
    additionalProperties: false,
  },
  create(options, { inputSize: F }) {
    const { units: d, activation, zBias, depthScaledLr } = options;
    const act = hidden[activation];
    const f = candidate[options.candidateActivation];
    const widths = blockWidths(options);
    const n = widths.length;
    const gainOf = (i: number) => (i === n ? 1 : gains[activation]); // the output layer is linear
    const lr = (i: number) => (depthScaledLr ? { lrMultiplier: depthMultiplier(i, n) } : {});
    const biasInit = (i: number): Init => (i === n ? init.concatLast([[d, init.constant(zBias)], [d, init.zeros]]) : init.zeros);

    const params: Record<string, ParamSpec> = {
      kernel1_x: { shape: [F, widths[0]], init: xavierPart(F + d, widths[0], gainOf(1)), ...lr(1) },
      kernel1_h: { shape: [d, widths[0]], init: xavierPart(F + d, widths[0], gainOf(1)), ...lr(1) },
      bias1: { shape: [widths[0]], init: biasInit(1), ...lr(1) },
    };
    for (let i = 2; i <= n; i++) {
      params[`kernel${i}`] = { shape: [widths[i - 2], widths[i - 1]], init: init.glorotUniform(gainOf(i)), ...lr(i) };
      params[`bias${i}`] = { shape: [widths[i - 1]], init: biasInit(i), ...lr(i) };
    }

    return {
      state: { h: d },
      outputSize: d,
      params,
      project: (x, p) => ({ a1: tf.add(tf.matMul(x, p.kernel1_x), p.bias1) as tf.Tensor2D }),
      step({ a1 }, { h }, p) {
        let a: tf.Tensor = tf.add(a1, tf.matMul(h, p.kernel1_h as tf.Tensor2D));
        for (let i = 2; i <= n; i++) a = tf.add(tf.matMul(act(a) as tf.Tensor2D, p[`kernel${i}`] as tf.Tensor2D), p[`bias${i}`]);
        const [z, hTilde] = tf.split(a, 2, 1);
        const s = tf.sigmoid(z);
        // σ·h + (1−σ)·f(h̃) rather than f + σ·(h − f): exact h_t = h_{t−1} when σ(z) = 1.
        const h2 = tf.add(tf.mul(s, h), tf.mul(tf.sub(1, s), f(hTilde))) as tf.Tensor2D;
        return { output: h2, state: { h: h2 }, signals: { sigmaZ: s } };
      },
      signals: ['sigmaZ'],
      fused: dmuFused(widths, activation, options.candidateActivation),
    };
  },
});
