/**
 * Plain-JS reference of one URLSTM / URGRU step, written from the paper's equations
 * (Gu et al. 2020: eqs 2–7, 9–16, 19–23, 28–37) without any code from src/.
 */
import { ref, sigmoid } from '@cellstack/core/testing';

export type PresetName = '-' | 'C-' | 'U-' | 'R-' | 'UR-' | 'O-' | 'OM-' | 'UM-' | 'OR-';
export const PRESET_NAMES: PresetName[] = ['-', 'C-', 'U-', 'R-', 'UR-', 'O-', 'OM-', 'UM-', 'OR-'];

const ordered = (p: PresetName) => p.startsWith('O');
const master = (p: PresetName) => p.endsWith('M-');
const refined = (p: PresetName) => p.endsWith('R-');
/** Presets whose main-gate bias is a separate chrono/UGI vector b. */
export const hasGateBias = (p: PresetName) => p.startsWith('C') || p.startsWith('U');

export function cumax(v: number[]): number[] {
  const m = Math.max(...v);
  const e = v.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  let acc = 0;
  return e.map((x) => (acc += x / s));
}
const expand = (v: number[], C: number) => v.flatMap((x) => Array<number>(C).fill(x));
const slices = (z: number[], widths: number[]) => {
  let off = 0;
  return widths.map((w) => z.slice(off, (off += w)));
};

export interface GateRef {
  forget: number[];
  effective: number[];
  refine?: number[];
  input?: number[];
}

/**
 * Gate mechanism on the gate-block pre-activations `z` (linear bias included, b not yet).
 * Block order: main, then refine (R) | master input, aux, [input] (M) | input (none).
 */
export function gateRef(preset: PresetName, z: number[], b: number[] | undefined, d: number, C: number, inputGate: boolean): { gates: GateRef; width: number } {
  const bb = (k: number) => (b ? b[k] : 0);
  if (refined(preset)) {
    const [zf, zr] = slices(z, [d, d]);
    const pre = zf.map((v, k) => v + bb(k));
    const f = ordered(preset) ? cumax(pre) : pre.map(sigmoid);
    const r = zr.map((v, k) => sigmoid(v - bb(k))); // eq. 11 with App. A's −b_f
    const g = f.map((fk, k) => r[k] * (1 - (1 - fk) ** 2) + (1 - r[k]) * fk ** 2); // eq. 12
    return { gates: { forget: f, effective: g, refine: r }, width: 2 * d };
  }
  if (master(preset)) {
    const M = d / C;
    const [zF, zI, zf, zi] = slices(z, [M, M, d, inputGate ? d : 0]);
    const Fm = ordered(preset) ? cumax(zF) : zF.map((v, k) => sigmoid(v + bb(k))); // eqs 19 / 32
    const Im = ordered(preset) ? cumax(zI).map((v) => 1 - v) : zI.map((v, k) => sigmoid(v - bb(k))); // eqs 20 / 33
    const F = expand(Fm, C);
    const I = expand(Im, C);
    const f = zf.map(sigmoid);
    const i = inputGate ? zi.map(sigmoid) : f.map((v) => 1 - v);
    const w = F.map((v, k) => v * I[k]); // eq. 21
    const fh = f.map((v, k) => v * w[k] + (F[k] - w[k])); // eq. 22
    const ih = i.map((v, k) => v * w[k] + (I[k] - w[k])); // eq. 23
    return { gates: { forget: F, effective: fh, input: ih }, width: 2 * M + d + (inputGate ? d : 0) };
  }
  const [zf, zi] = slices(z, [d, inputGate ? d : 0]);
  const f = ordered(preset) ? cumax(zf) : zf.map((v, k) => sigmoid(v + bb(k)));
  const gates: GateRef = { forget: f, effective: f };
  if (inputGate) gates.input = ordered(preset) ? cumax(zi).map((v) => 1 - v) : zi.map((v, k) => sigmoid(v - bb(k))); // eqs 18, 29
  return { gates, width: d + (inputGate ? d : 0) };
}

export interface LSTMParams {
  kernel: number[][];
  recurrent: number[][];
  bias: number[];
  gateBias?: number[];
}

/** One UR-LSTM step; the gate block is followed by o and u. */
export function lstmStep(preset: PresetName, p: LSTMParams, x: number[], h: number[], c: number[], d: number, C: number) {
  const z = ref.add(ref.vecMat(x, p.kernel), ref.vecMat(h, p.recurrent), p.bias);
  const { gates, width } = gateRef(preset, z, p.gateBias, d, C, true);
  const o = z.slice(width, width + d).map(sigmoid);
  const u = z.slice(width + d, width + 2 * d).map(Math.tanh);
  const input = gates.input ?? gates.effective.map((g) => 1 - g); // tied input 1 − g (eq. 13)
  const c2 = c.map((ck, k) => gates.effective[k] * ck + input[k] * u[k]);
  const h2 = c2.map((ck, k) => o[k] * Math.tanh(ck));
  return { h: h2, c: c2, gates, o };
}

export interface GRUParams {
  kernel: number[][];
  recurrentGates: number[][];
  recurrentCandidate: number[][];
  bias: number[];
  gateBias?: number[];
}

/** One UR-GRU step (retention convention): gate block, reset ρ; candidate columns last. */
export function gruStep(preset: PresetName, p: GRUParams, x: number[], h: number[], d: number, C: number) {
  const xz = ref.add(ref.vecMat(x, p.kernel), p.bias);
  const wg = p.recurrentGates[0].length;
  const z = ref.add(xz.slice(0, wg), ref.vecMat(h, p.recurrentGates));
  const { gates, width } = gateRef(preset, z, p.gateBias, d, C, false);
  const rho = z.slice(width, width + d).map(sigmoid);
  const cand = ref.add(xz.slice(wg), ref.vecMat(ref.mul(rho, h), p.recurrentCandidate)).map(Math.tanh);
  const input = gates.input ?? gates.effective.map((g) => 1 - g);
  const h2 = h.map((hk, k) => gates.effective[k] * hk + input[k] * cand[k]);
  return { h: h2, gates, rho };
}
