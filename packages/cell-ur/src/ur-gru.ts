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
import { urgruFused } from './ur-gru-kernel.js';

export interface URGRUOptions extends GateOptions {
  zh: number;
}

/**
 * UR-GRU (Gu et al. 2020, Table 2/3): the UR gate mechanism on the GRU's update gate,
 * in the retention convention (reference-impls §2.2; the core GRU's convention):
 *   g = gate mechanism (f, r, …) as in gates.ts;  ρ = σ(L_ρ)
 *   h̃ = tanh(x W_h + (ρ ∘ h) U_h + b_h)
 *   h_t = g h_{t−1} + (1 − g) h̃            (master gates: ĝ h_{t−1} + î h̃)
 * UGI then gives σ(b_f) ~ U[1/d, 1−1/d] as the retention distribution, which equals
 * s4's GatedRNNCell with its −logit(u) bias on the fraction of new content.
 */
export const URGRU = defineCell<URGRUOptions>({
  name: 'URGRU',
  description: 'UR-GRU: the UR gate mechanism (and its ablations) on the GRU update gate',
  positional: ['units'],
  source: { paper: 'Gu, Gulcehre, Paine, Hoffman, Pascanu 2020, Improving the Gating Mechanism of Recurrent Neural Networks', url: 'https://arxiv.org/abs/1910.09890' },
  schema: {
    type: 'object',
    properties: { ...gateSchema, zh: zoneoutSchema('the state h') },
    additionalProperties: false,
  },
  validate: (o) => validateGates(o, false),
  create(o, { inputSize, seed: layerSeed }) {
    const g = gateLayout(o, false);
    const H = g.units;
    const gatesWidth = g.width + H; // gate block, then the reset gate ρ
    const gb = gateBiasInit(g);
    const seed = zoneoutSeeds('URGRU', layerSeed);
    return {
      state: { h: H },
      outputSize: H,
      params: {
        kernel: { shape: [inputSize, gatesWidth + H], init: kernelInit(g) },
        recurrentGates: { shape: [H, gatesWidth], init: recurrentInit(g, [...g.blocks.map(([, w]) => w), H]) },
        recurrentCandidate: { shape: [H, H], init: recurrentInit(g, [H]) },
        bias: { shape: [gatesWidth + H], init: linearBiasInit(g, 2 * H) },
        ...(gb ? { gateBias: { shape: [g.main], init: gb, trainable: o.gateBias === 'trained' } } : {}),
      },
      project: (x, p) => {
        const [gates, cand] = tf.split(tf.add(tf.matMul(x, p.kernel), projectionBias(g, p, gatesWidth + H)), [gatesWidth, H], 1);
        return { gates: gates as tf.Tensor2D, cand: cand as tf.Tensor2D };
      },
      step({ gates: xg, cand }, { h }, p, ctx) {
        const z = tf.add(xg, tf.matMul(h, p.recurrentGates as tf.Tensor2D));
        const [zg, zr] = tf.split(z, [g.width, H], 1) as tf.Tensor2D[];
        const gates = computeGates(g, zg);
        const rho = tf.sigmoid(zr);
        const hh = tf.tanh(tf.add(cand, tf.matMul(tf.mul(rho, h) as tf.Tensor2D, p.recurrentCandidate as tf.Tensor2D)));
        const hNew = (gates.input
          ? tf.add(tf.mul(gates.effective, h), tf.mul(gates.input, hh))
          : tf.add(hh, tf.mul(gates.effective, tf.sub(h, hh)))) as tf.Tensor2D;
        const h2 = zoneout(h, hNew, o.zh, ctx, 'zoneoutH');
        return { output: h2, state: { h: h2 }, signals: { ...gates, reset: rho } as Record<string, tf.Tensor> };
      },
      ...zoneoutBegin({ zoneoutH: o.zh }, H, seed),
      signals: [...gateSignals(g), 'reset'],
      fused: urgruFused(g, o.zh, seed),
    };
  },
});
