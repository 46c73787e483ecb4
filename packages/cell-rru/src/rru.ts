import * as tf from '@tensorflow/tfjs-core';
import { defineCell, dropoutMask, init, stepSeeds, type Init, type ParamSpec } from '@cellstack/core';
import { rruFused } from './kernel.js';

export type RRUNormalize = 'rms' | 'l2' | 'none';
export type RRUDropoutMask = 'step' | 'sequence';

export interface RRUOptions {
  /** State size n. */
  units: number;
  /** Output size p (what the next layer receives). */
  outputSize: number;
  /** Middle width g = round(q·(m + n)). */
  q: number;
  /** ReLU layers, the normalised first one included. */
  reluLayers: number;
  normalize: RRUNormalize;
  /** σ(sScale·S): the authors' code uses 10 (a ×10 Adam step on S); the paper's σ(S) is 1. */
  sScale: number;
  /** One scalar Z for all features (ReZero's original; the paper's ablation). */
  singleZ: boolean;
  dropout: number;
  dropoutMask: RRUDropoutMask;
}

/** The fused kernel's normalisation codes (kernel/rru.c). */
const NORM_CODES: Record<RRUNormalize, number> = { none: 0, rms: 1, l2: 2 };

/** Normalisation epsilon of the authors' `instance_norm`. */
const EPS = 1e-6;

/** Python 3's round() (half to even), so g matches the authors' code for every q. */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d !== 0.5) return Math.round(v);
  return f % 2 === 0 ? f : f + 1;
}

/** Middle width g = round(q·(m + n)). */
export const middleWidth = (q: number, inputSize: number, units: number) => roundHalfEven(q * (inputSize + units));

/**
 * Trainable parameters of one RRU layer (paper §3 dimensions; W^k is g×g — the
 * paper's "g×p" is a typo, the code's J_i are M×M):
 * (m+n)g + g + (L−1)(g² + g) + g(n+p) + (n+p) + n + (singleZ ? 1 : n).
 */
export function rruParamCount(o: Pick<RRUOptions, 'units' | 'outputSize' | 'q' | 'reluLayers' | 'singleZ'>, inputSize: number): number {
  const n = o.units;
  const g = middleWidth(o.q, inputSize, n);
  return (inputSize + n) * g + g + (o.reluLayers - 1) * (g * g + g) + g * (n + o.outputSize) + n + o.outputSize + n + (o.singleZ ? 1 : n);
}

/** logit(U(0.01, 0.99)) / scale, so that σ(scale·S) ~ U(0.01, 0.99) at initialisation (authors' code). */
const sInit = (scale: number): Init => (shape, rng) =>
  init.uniform(0.01, 0.99)(shape, rng).map((u) => Math.log(u / (1 - u)) / scale);

/**
 * RRU (Zakovskis et al. 2021, "Gates Are Not What You Need in RNNs"), eqs 1–6:
 *   j = ReLU(Normalize(x W^x + h W^h + b^j));  [j = ReLU(j W^k + b^k)]×(reluLayers − 1)
 *   d = Dropout(j);  [c, o] = d W^{co} + b^{co}
 *   h_t = σ(sScale·S) ∘ h_{t−1} + Z ∘ c;  output o_t
 * As the authors' code (LUMII-Syslab/RRU cells/RRUCell.py): RMS normalisation without
 * gain, W^c and W^o as one matrix (c first), σ(10·S) with σ ~ U(0.01, 0.99) at init,
 * Z = 0, h_0 = [√n/4, 0, …, 0], a fresh dropout mask every step.
 */
export const RRU = defineCell<RRUOptions>({
  name: 'RRU',
  description: 'Residual Recurrent Unit: a gateless residual ReLU cell with normalisation and ReZero state update',
  positional: ['units'],
  source: { paper: 'Zakovskis, Draguns, Gaile, Ozolins, Freivalds 2021, "Gates Are Not What You Need in RNNs"', url: 'https://github.com/LUMII-Syslab/RRU' },
  schema: {
    type: 'object',
    properties: {
      units: { type: 'integer', minimum: 1, default: 128, description: 'state size n' },
      outputSize: {
        type: 'integer',
        minimum: 1,
        default: 64,
        description: 'output size p: the cell outputs o_t (not h_t) to the next layer (paper D.2: 64 for music, IMDB, MNIST; 128 for language models)',
      },
      q: { type: 'number', minimum: 0.1, maximum: 8, default: 2, description: 'middle width multiplier: g = round(q·(inputs + units)) (paper: 0.1–8, default 2)' },
      reluLayers: {
        type: 'integer',
        minimum: 1,
        default: 1,
        description: 'ReLU layers counted as the code and the paper tables do: the normalised first layer included (2 = one Eq. 2 layer)',
      },
      normalize: {
        enum: ['rms', 'l2', 'none'],
        default: 'rms',
        description: "first-layer normalisation: 'rms' (the authors' code, no gain), 'l2' (the paper's text), 'none' (the paper's ablation)",
      },
      sScale: {
        type: 'number',
        exclusiveMinimum: 0,
        default: 10,
        description: "the residual weight is σ(sScale·S): 10 in the authors' code (a 10× Adam step on S), 1 is the paper's plain σ(S)",
      },
      singleZ: { type: 'boolean', default: false, description: "one scalar ReZero weight Z for all features (the paper's ablation) instead of one per feature" },
      dropout: { type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0.5, description: 'dropout rate on the last ReLU layer, training only (paper: ~0.7 best on several tasks)' },
      dropoutMask: {
        enum: ['step', 'sequence'],
        default: 'step',
        description: "'step': a fresh mask every step (the authors' code, tf.nn.dropout in the cell); 'sequence': one mask per sequence (variational)",
      },
    },
    additionalProperties: false,
  },
  validate({ q, units }, { inputSize }) {
    if (middleWidth(q, inputSize, units) < 1) {
      return { path: 'q', message: `gives a middle width round(${q}·(${inputSize} + ${units})) of 0; use q > ${(0.5 / (inputSize + units)).toPrecision(2)} or more units` };
    }
    return undefined;
  },
  create(o, { inputSize: m, seed }) {
    const n = o.units;
    const p = o.outputSize;
    const g = middleWidth(o.q, m, n);
    const L = o.reluLayers;
    const keep = 1 - o.dropout;
    // The code's first layer is one glorot-uniform kernel over [x, h]; split in two, same limit.
    const jLimit = Math.sqrt(6 / (m + n + g));
    const params: Record<string, ParamSpec> = {
      Wx: { shape: [m, g], init: init.uniform(-jLimit, jLimit) },
      Wh: { shape: [n, g], init: init.uniform(-jLimit, jLimit) },
      bj: { shape: [g], init: init.zeros },
    };
    for (let k = 1; k < L; k++) {
      params[`Wk${k}`] = { shape: [g, g], init: init.glorotUniform() };
      params[`bk${k}`] = { shape: [g], init: init.zeros };
    }
    params.Wco = { shape: [g, n + p], init: init.glorotUniform() };
    params.bco = { shape: [n + p], init: init.zeros };
    params.S = { shape: [n], init: sInit(o.sScale) };
    params.Z = { shape: o.singleZ ? [1] : [n], init: init.zeros };

    const normalize = (v: tf.Tensor2D): tf.Tensor2D => {
      if (o.normalize === 'none') return v;
      const sq = o.normalize === 'rms' ? tf.mean(tf.square(v), -1, true) : tf.sum(tf.square(v), -1, true);
      return tf.mul(v, tf.rsqrt(tf.add(sq, EPS)));
    };
    // Dropout streams keyed by (layer seed, training step, draw), so training is reproducible and a
    // resumed run drops what an uninterrupted one would; core's dropoutMask gives the bits, which
    // the fused kernel draws identically.
    const maskSeed = stepSeeds(seed ?? Math.floor(Math.random() * 2 ** 31), 'rru-dropout');
    // Rows from element 0 of the stream: a per-step mask for T steps is T·B rows, step t's block at offset t·B·g.
    const maskOf = (seq: number, rows: number) => tf.tensor2d(dropoutMask(new Float32Array(rows * g), seq, 0, keep), [rows, g]);
    const perStep = o.dropout > 0 && o.dropoutMask === 'step';

    return {
      state: { h: n },
      outputSize: p,
      params,
      initialState(batch) {
        const h0 = new Float32Array(batch * n);
        for (let b = 0; b < batch; b++) h0[b * n] = Math.sqrt(n) / 4;
        return { h: tf.tensor2d(h0, [batch, n]) };
      },
      // Parameter-only terms once per sequence (inside the gradient tape, so S and Z still learn).
      ...(perStep ? { perStep: ['stepMask'] } : {}),
      begin({ training, batch, steps }, P) {
        const c: Record<string, tf.Tensor> = {
          decay: tf.reshape(tf.sigmoid(tf.mul(P.S, o.sScale)), [1, n]),
          z: tf.reshape(P.Z, [1, -1]),
        };
        if (training && o.dropout > 0) {
          if (perStep) c.stepMask = maskOf(maskSeed(), steps * batch);
          else c.mask = maskOf(maskSeed(), batch);
        }
        return c;
      },
      project: (x, P) => ({ x: tf.add(tf.matMul(x, P.Wx), P.bj) }),
      step({ x }, { h }, P, { training, constants }) {
        let j = tf.relu(normalize(tf.add(x, tf.matMul(h, P.Wh as tf.Tensor2D)))) as tf.Tensor2D;
        for (let k = 1; k < L; k++) j = tf.relu(tf.add(tf.matMul(j, P[`Wk${k}`] as tf.Tensor2D), P[`bk${k}`])) as tf.Tensor2D;
        if (training && o.dropout > 0) j = tf.mul(j, constants.mask ?? constants.stepMask);
        const co = tf.add(tf.matMul(j, P.Wco as tf.Tensor2D), P.bco);
        const [c, out] = tf.split(co, [n, p], 1) as [tf.Tensor2D, tf.Tensor2D];
        const h2 = tf.add(tf.mul(h, constants.decay), tf.mul(constants.z, c)) as tf.Tensor2D;
        return { output: out, state: { h: h2 }, signals: { sigmoidS: constants.decay, Z: constants.z, candidate: c } };
      },
      signals: ['sigmoidS', 'Z', 'candidate'],
      fused: rruFused({ n, p, g, layers: L, norm: NORM_CODES[o.normalize], sScale: o.sScale, keep, maskPerStep: o.dropoutMask === 'step' }, maskSeed),
      // Inference on ≥ 2 threads: the traced program splits the batch over the threads, while the hand-written
      // kernel's per-step products are too small to (README, traced vs hand-written: W3 1.24× on 2 threads, 1.04× on 1;
      // training 0.85× on W1).
      tracedWins: ({ threads, training }) => threads > 1 && !training,
    };
  },
});
