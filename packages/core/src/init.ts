import type { Rng } from './rng.js';

/**
 * A parameter initialiser: shape + seeded stream → row-major values.
 * Plain functions (not tf Initializers) so cells can compose them per block and
 * tests can reproduce them exactly.
 */
export type Init = (shape: readonly number[], rng: Rng) => Float32Array;

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const fill = (shape: readonly number[], f: (i: number) => number) => {
  const out = new Float32Array(size(shape));
  for (let i = 0; i < out.length; i++) out[i] = f(i);
  return out;
};
/** fan-in / fan-out of a [in, out] kernel (vectors count as fan-out only). */
const fans = (shape: readonly number[]) =>
  shape.length >= 2 ? [shape[shape.length - 2], shape[shape.length - 1]] : [shape[0], shape[0]];

export const zeros: Init = (shape) => new Float32Array(size(shape));
export const constant = (value: number): Init => (shape) => fill(shape, () => value);
export const uniform = (lo: number, hi: number): Init => (shape, rng) => fill(shape, () => rng.uniform(lo, hi));
export const normal = (std = 1, mean = 0): Init => (shape, rng) => fill(shape, () => mean + std * rng.normal());

/** Xavier/Glorot uniform: U(±gain·√(6/(fanIn+fanOut))). */
export const glorotUniform = (gain = 1): Init => (shape, rng) => {
  const [fi, fo] = fans(shape);
  const lim = gain * Math.sqrt(6 / (fi + fo));
  return fill(shape, () => rng.uniform(-lim, lim));
};

/**
 * A (semi-)orthogonal matrix times `gain`, from a seeded Gaussian matrix by
 * modified Gram–Schmidt in float64 (QR up to column signs, as Saxe et al.).
 */
export const orthogonal = (gain = 1): Init => (shape, rng) => {
  if (shape.length !== 2) throw new Error(`orthogonal init needs a matrix, got shape [${shape}]`);
  const [rows, cols] = shape;
  const tall = rows >= cols;
  const n = tall ? rows : cols; // vector length
  const k = tall ? cols : rows; // number of orthonormal vectors
  const q: Float64Array[] = [];
  for (let j = 0; j < k; j++) {
    const v = new Float64Array(n);
    for (let i = 0; i < n; i++) v[i] = rng.normal();
    for (let pass = 0; pass < 2; pass++) {
      for (const u of q) {
        let d = 0;
        for (let i = 0; i < n; i++) d += u[i] * v[i];
        for (let i = 0; i < n; i++) v[i] -= d * u[i];
      }
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += v[i] * v[i];
    norm = Math.sqrt(norm);
    for (let i = 0; i < n; i++) v[i] /= norm;
    q.push(v);
  }
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) out[r * cols + c] = gain * (tall ? q[c][r] : q[r][c]);
  return out;
};

/** Chrono initialisation (Tallec & Ollivier 2018): log U[1, tmax − 1]. */
export const chrono = (tmax: number): Init => (shape, rng) => {
  if (!(tmax > 2)) throw new Error(`chrono init needs tmax > 2, got ${tmax}`);
  return fill(shape, () => Math.log(rng.uniform(1, tmax - 1)));
};

/** Apply `f` to each value another initialiser produced. */
export const mapInit = (base: Init, f: (v: number) => number): Init => (shape, rng) => base(shape, rng).map(f);

/**
 * Concatenate initialisers along the last axis: a [rows, Σ widths] parameter whose
 * column blocks are initialised independently (e.g. an LSTM's four gate blocks).
 */
export const concatLast = (blocks: ReadonlyArray<readonly [width: number, init: Init]>): Init => (shape, rng) => {
  const cols = shape[shape.length - 1];
  const rows = size(shape) / cols;
  const total = blocks.reduce((a, [w]) => a + w, 0);
  if (total !== cols) throw new Error(`concatLast: block widths sum to ${total}, parameter has ${cols} columns`);
  const out = new Float32Array(rows * cols);
  let off = 0;
  blocks.forEach(([w, init], b) => {
    const part = init(shape.length === 1 ? [w] : [rows, w], rng.fork(`block${b}`));
    for (let r = 0; r < rows; r++) for (let c = 0; c < w; c++) out[r * cols + off + c] = part[r * w + c];
    off += w;
  });
  return out;
};
