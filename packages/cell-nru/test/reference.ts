/**
 * An independent plain-JS NRU, written from the paper's equations 9–17 in the authors'
 * form: five separate linear maps (h; α; β; write directions; erase directions), each a
 * weight matrix [inputs][outputs] with its bias, in float64. Tests pack these into the
 * cell's concatenated parameters and compare.
 */
import { createRng } from '@cellstack/core';
import type { NRUOptions } from '../src/index.js';

type Mat = number[][];
export interface Linear {
  w: Mat;
  b: number[];
}
export interface RefWeights {
  /** [x, h, m] → pre-activation of h */
  h: Linear;
  alpha: Linear;
  beta: Linear;
  /** → p then q of the write directions */
  vw: Linear;
  /** → p then q of the erase directions */
  ve: Linear;
  lnGain?: number[];
  lnBias?: number[];
}

const linear = (l: Linear, v: number[]) => l.b.map((b, j) => v.reduce((a, vi, i) => a + vi * l.w[i][j], b));
const relu = (v: number[]) => v.map((z) => Math.max(0, z));

/** Sizes of the direction factors: p and q each hold `groups` vectors of size r. */
export function factorSizes(o: Pick<NRUOptions, 'memory' | 'heads' | 'outerProduct'>) {
  return o.outerProduct === 'shared' ? { groups: 1, r: Math.sqrt(o.heads * o.memory) } : { groups: o.heads, r: Math.sqrt(o.memory) };
}

/** Random weights in [-0.5, 0.5) for every map (layer-norm gain around 1). */
export function randomWeights(o: NRUOptions, F: number, seed: number): RefWeights {
  const rng = createRng(seed);
  const mat = (rows: number, cols: number): Mat => Array.from({ length: rows }, () => Array.from({ length: cols }, () => rng.uniform(-0.5, 0.5)));
  const lin = (rows: number, cols: number): Linear => ({ w: mat(rows, cols), b: mat(1, cols)[0] });
  const { groups, r } = factorSizes(o);
  const inHeads = (o.headInputs === 'xhm' ? F : 0) + o.hidden + o.memory;
  const w: RefWeights = {
    h: lin(F + o.hidden + o.memory, o.hidden),
    alpha: lin(inHeads, o.heads),
    beta: lin(inHeads, o.heads),
    vw: lin(inHeads, 2 * groups * r),
    ve: lin(inHeads, 2 * groups * r),
  };
  // With ReLU heads, shift α and β up so that some writes survive the ReLU on tiny sizes.
  if (o.useRelu) for (const l of [w.alpha, w.beta]) l.b = l.b.map((b) => b + 0.5);
  if (o.layerNorm) {
    w.lnGain = mat(1, o.hidden)[0].map((g) => 1 + g);
    w.lnBias = mat(1, o.hidden)[0];
  }
  return w;
}

/** The k direction vectors of one head set, from the linear map's output [p | q]. */
function directions(o: NRUOptions, pq: number[]): number[][] {
  const { groups, r } = factorSizes(o);
  const p = pq.slice(0, groups * r);
  const q = pq.slice(groups * r);
  const heads: number[][] = [];
  for (let i = 0; i < o.heads; i++) {
    const v: number[] = [];
    for (let j = 0; j < o.memory; j++) {
      if (o.outerProduct === 'shared') {
        // Entry i·M + j of vec(p qᵀ) (row-major s×s), cut into k chunks of M.
        const flat = i * o.memory + j;
        v.push(p[Math.floor(flat / r)] * q[flat % r]);
      } else {
        // Head i: vec(p_i q_iᵀ), p_i and q_i of size √M.
        v.push(p[i * r + Math.floor(j / r)] * q[i * r + (j % r)]);
      }
    }
    const g = o.useRelu ? relu(v) : v;
    const norm = Math.max(Math.pow(g.reduce((a, z) => a + Math.abs(z) ** 5, 0), 1 / 5), 1e-12);
    heads.push(g.map((z) => z / norm));
  }
  return heads;
}

/** One NRU step for one example. */
export function refStep(o: NRUOptions, w: RefWeights, x: number[], h: number[], m: number[]) {
  let z = linear(w.h, [...x, ...h, ...m]);
  if (o.layerNorm) {
    const mu = z.reduce((a, v) => a + v, 0) / z.length;
    const variance = z.reduce((a, v) => a + (v - mu) ** 2, 0) / z.length;
    z = z.map((v, i) => ((v - mu) / Math.sqrt(variance + 1e-5)) * w.lnGain![i] + w.lnBias![i]);
  }
  const h2 = relu(z);
  const u = o.headInputs === 'xhm' ? [...x, ...h2, ...m] : [...h2, ...m];
  const act = (v: number[]) => (o.useRelu ? relu(v) : v);
  const alpha = act(linear(w.alpha, u));
  const beta = act(linear(w.beta, u));
  const vw = directions(o, linear(w.vw, u));
  const ve = directions(o, linear(w.ve, u));
  const c = o.headReduce === 'mean' ? 1 / o.heads : 1;
  const m2 = m.map((mj, j) => mj + c * alpha.reduce((a, ai, i) => a + ai * vw[i][j] - beta[i] * ve[i][j], 0));
  return { h: h2, m: m2, alpha, beta };
}

/** The cell's parameters (documented layout in src/nru.ts) from the five maps. */
export function pack(o: NRUOptions, w: RefWeights, F: number): Record<string, number[][] | number[]> {
  const H = o.hidden;
  const xhm = o.headInputs === 'xhm';
  // Rows of the heads' maps are [x?, h_t, m_{t-1}]; rows of the h map are [x, h_{t-1}, m_{t-1}].
  const heads: Mat = w.alpha.w.map((_, i) => [...w.alpha.w[i], ...w.beta.w[i], ...w.vw.w[i], ...w.ve.w[i]]);
  const hx = xhm ? F : 0;
  const values: Record<string, number[][] | number[]> = {
    kernel: w.h.w.slice(0, F).map((row, i) => (xhm ? [...row, ...heads[i]] : row)),
    recurrent: w.h.w.slice(F, F + H),
    memoryKernel: w.h.w.slice(F + H).map((row, i) => [...row, ...heads[hx + H + i]]),
    bias: w.h.b,
    headKernel: heads.slice(hx, hx + H),
    headBias: [...w.alpha.b, ...w.beta.b, ...w.vw.b, ...w.ve.b],
  };
  if (o.layerNorm) {
    values.lnGain = w.lnGain!;
    values.lnBias = w.lnBias!;
  }
  return values;
}
