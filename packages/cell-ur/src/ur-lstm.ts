import * as tf from '@tensorflow/tfjs-core';
import { defineCell } from '@cellstack/core';
import {
  computeGates,
  gateBiasInit,
  kernelInit,
  linearBiasInit,
  recurrentInit,
  gateLayout,
  gateSchema,
  gateSignals,
  projectionBias,
  validateGates,
  zoneout,
  zoneoutBegin,
  zoneoutSchema,
  zoneoutSeeds,
  type GateOptions,
} from './gates.js';
import { urlstmFused } from './ur-lstm-kernel.js';

export interface URLSTMOptions extends GateOptions {
  zc: number;
  zh: number;
}

/**
 * UR-LSTM (Gu et al. 2020, eqs 9–15) and the LSTM gate ablations of Table 1. With the
 * default preset 'UR-':
 *   b_f ~ logit U[1/d, 1−1/d]                      (UGI, trainable)
 *   f = σ(L_f + b_f);  r = σ(L_r − b_f)            (refine bias tied, App. A)
 *   g = r(1 − (1−f)²) + (1 − r) f²
 *   c_t = g c_{t−1} + (1 − g) tanh(L_u);  h_t = σ(L_o) tanh(c_t)
 * Columns of kernel/recurrent/bias: the gate block (gates.ts: main, then refine | input |
 * master input, aux[, input]) followed by o and u, all from one matMul per step.
 */
export const URLSTM = defineCell<URLSTMOptions>({
  name: 'URLSTM',
  description: 'UR-LSTM: uniform gate initialisation + refine gate, and the gate ablations (-, C-, U-, R-, O-, OM-, UM-, OR-)',
  positional: ['units'],
  source: { paper: 'Gu, Gulcehre, Paine, Hoffman, Pascanu 2020, Improving the Gating Mechanism of Recurrent Neural Networks', url: 'https://arxiv.org/abs/1910.09890' },
  schema: {
    type: 'object',
    properties: { ...gateSchema, zc: zoneoutSchema('the cell state c'), zh: zoneoutSchema('the hidden state h') },
    additionalProperties: false,
  },
  validate: (o) => validateGates(o, true),
  create(o, { inputSize, seed: layerSeed }) {
    const g = gateLayout(o, true);
    const H = g.units;
    const width = g.width + 2 * H;
    const gb = gateBiasInit(g);
    const seed = zoneoutSeeds('URLSTM', layerSeed);
    return {
      state: { h: H, c: H },
      outputSize: H,
      params: {
        kernel: { shape: [inputSize, width], init: kernelInit(g) },
        recurrent: { shape: [H, width], init: recurrentInit(g, [...g.blocks.map(([, w]) => w), H, H]) },
        bias: { shape: [width], init: linearBiasInit(g, 2 * H) },
        ...(gb ? { gateBias: { shape: [g.main], init: gb, trainable: o.gateBias === 'trained' } } : {}),
      },
      project: (x, p) => ({ x: tf.add(tf.matMul(x, p.kernel), projectionBias(g, p, width)) as tf.Tensor2D }),
      step({ x }, { h, c }, p, ctx) {
        const z = tf.add(x, tf.matMul(h, p.recurrent as tf.Tensor2D));
        const [zg, zo, zu] = tf.split(z, [g.width, H, H], 1) as tf.Tensor2D[];
        const gates = computeGates(g, zg);
        const u = tf.tanh(zu);
        // Tied input (refine): c = g c + (1 − g) u = u + g (c − u).
        const cNew = (gates.input
          ? tf.add(tf.mul(gates.effective, c), tf.mul(gates.input, u))
          : tf.add(u, tf.mul(gates.effective, tf.sub(c, u)))) as tf.Tensor2D;
        const o2 = tf.sigmoid(zo);
        const hNew = tf.mul(o2, tf.tanh(cNew)) as tf.Tensor2D;
        const c2 = zoneout(c, cNew, o.zc, ctx, 'zoneoutC');
        const h2 = zoneout(h, hNew, o.zh, ctx, 'zoneoutH');
        return { output: h2, state: { h: h2, c: c2 }, signals: { ...gates, output: o2, c: c2 } as Record<string, tf.Tensor> };
      },
      ...zoneoutBegin({ zoneoutC: o.zc, zoneoutH: o.zh }, H, seed),
      signals: [...gateSignals(g), 'output', 'c'],
      fused: urlstmFused(g, o.zc, o.zh, seed),
      // On the native addon its traced step trains faster (README, traced vs hand-written: 1.0–1.44× on 1–2 threads).
      tracedWins: 'native',
    };
  },
});
