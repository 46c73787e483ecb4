import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import { expectWidthsAgree, fill, hasWide } from './seeded.js';

const { step, setThreads, threadedProducts } = createRequire(import.meta.url)('@cellstack/native') as typeof import('@cellstack/native');

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const [STAR, STAR_OFFICIAL, STAR_GRAD, STAR_OFFICIAL_GRAD, JANET, JANET_GRAD, TANH_GRAD, URLSTM, DMU, LSTM_GRAD] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
const BETA = 1.25;
/** Each kind's operands' widths in units of H, in block order (the addon's table). */
const WIDTHS = [[2, 1, 1], [2, 1, 1], [2, 1, 1, 1, 1, 2], [2, 1, 1, 1, 1, 2], [2, 1, 1], [2, 1, 1, 1, 2], [1, 1, 1, 1], [4, 1, 1, 1, 1], [2, 1, 1], [4, 1, 1, 1, 1, 1]];
/** Floats after the operands: JANET's β; UR-LSTM's zoneout rates zc, zh. */
const FLOATS: number[][] = [[], [], [], [], [BETA], [BETA], [], [0.25, 0.5], [], []];

/**
 * The kind's operands one after another, each row padded by `i + 1` floats, then the argument
 * block; seeded values in [-1, 1), the inputs of a step (and a gradient's saved gate pre-activations) × scale.
 */
function layout(kind: number, B: number, H: number, scale: number) {
  const widths = WIDTHS[kind];
  const lds = widths.map((w, i) => w * H + i + 1);
  const offs: number[] = [];
  let at = 0;
  for (const ld of lds) {
    offs.push(at);
    at += B * ld;
  }
  const block = at;
  const mem = fill(new Float32Array(block + 2 * widths.length + 2 + 3), B * 31 + H + kind);
  // Gradients: only the saved gate pre-activations are scaled (the rest are tanh outputs and gradients).
  const grad = kind === STAR_GRAD || kind === STAR_OFFICIAL_GRAD || kind === JANET_GRAD || kind === TANH_GRAD || kind === LSTM_GRAD;
  if (!grad) for (let i = 0; i < block; i++) mem[i] *= scale;
  else if (kind !== TANH_GRAD && kind !== LSTM_GRAD)
    for (let b = 0; b < B; b++)
      for (let j = 0; j < H; j++) {
        const q = b * lds[0] + (kind === JANET_GRAD ? 0 : H) + j;
        mem[q] = kind === STAR_GRAD ? sigmoid(scale * mem[q]) : scale * mem[q];
      }
  const ints = new Int32Array(mem.buffer);
  widths.forEach((_, i) => {
    ints[block + 2 * i] = 4 * offs[i];
    ints[block + 2 * i + 1] = lds[i];
  });
  FLOATS[kind].forEach((v, i) => (mem[block + 2 * widths.length + i] = v));
  return { mem, offs, lds, block };
}

function run(kind: number, threads: number, B: number, H: number, scale: number): Float32Array {
  setThreads!(threads);
  const { mem, block } = layout(kind, B, H, scale);
  step!(mem.buffer as ArrayBuffer, kind, B, H, 4 * block);
  return mem;
}

/** What each kind writes, from the float64 formulas of the kernels' wasm paths: [float offset, value] pairs. */
function expected(kind: number, B: number, H: number, scale: number): [number, number][] {
  const { mem, offs, lds } = layout(kind, B, H, scale);
  const at = (i: number, b: number, j: number) => offs[i] + b * lds[i] + j;
  const v = (i: number, b: number, j: number) => mem[at(i, b, j)];
  const out: [number, number][] = [];
  for (let b = 0; b < B; b++)
    for (let j = 0; j < H; j++) {
      if (kind === STAR || kind === STAR_OFFICIAL) {
        const [z, f, p] = [Math.tanh(v(0, b, j)), v(0, b, H + j), v(1, b, j)];
        const y = kind === STAR ? p + sigmoid(f) * (z - p) : sigmoid(f) * p + (1 - sigmoid(f - 1)) * z;
        out.push([at(0, b, j), z], [at(2, b, j), Math.tanh(y)]);
        if (kind === STAR) out.push([at(0, b, H + j), sigmoid(f)]);
      } else if (kind === STAR_GRAD || kind === STAR_OFFICIAL_GRAD) {
        const [z, s, h, p] = [v(0, b, j), v(0, b, H + j), v(1, b, j), v(2, b, j)];
        const d = (v(4, b, j) + v(3, b, j)) * (1 - h * h);
        let dz: number, dg: number, dp: number;
        if (kind === STAR_GRAD) [dz, dg, dp] = [d * s, d * (z - p) * s * (1 - s), d * (1 - s)];
        else {
          const [s1, s2] = [sigmoid(s), sigmoid(s - 1)];
          [dz, dg, dp] = [d * (1 - s2), d * (p * s1 * (1 - s1) - z * s2 * (1 - s2)), d * s1];
        }
        out.push([at(5, b, j), dz * (1 - z * z)], [at(5, b, H + j), dg], [at(4, b, j), dp]);
      } else if (kind === JANET) {
        const [s, c, p] = [v(0, b, j), Math.tanh(v(0, b, H + j)), v(1, b, j)];
        out.push([at(0, b, H + j), c], [at(2, b, j), sigmoid(s) * p + (1 - sigmoid(s - BETA)) * c]);
      } else if (kind === JANET_GRAD) {
        const [s, c, p] = [v(0, b, j), v(0, b, H + j), v(1, b, j)];
        const d = v(3, b, j) + v(2, b, j);
        const [f, g] = [sigmoid(s), sigmoid(s - BETA)];
        out.push([at(4, b, j), d * (p * f * (1 - f) - c * g * (1 - g))], [at(4, b, H + j), d * (1 - g) * (1 - c * c)], [at(3, b, j), d * f]);
      } else if (kind === LSTM_GRAD) {
        const [i, f, g, o] = [0, 1, 2, 3].map((q) => v(0, b, q * H + j));
        const tc = Math.tanh(v(1, b, j));
        const dh = v(4, b, j) + v(3, b, j);
        const dc = v(5, b, j) + dh * o * (1 - tc * tc);
        const dz = [dc * g * i * (1 - i), dc * v(2, b, j) * f * (1 - f), dc * i * (1 - g * g), dh * tc * o * (1 - o)];
        dz.forEach((x, q) => out.push([at(0, b, q * H + j), x]));
        out.push([at(5, b, j), dc * f]);
      } else if (kind === DMU) {
        const [s, g, p] = [sigmoid(v(0, b, j)), Math.tanh(v(0, b, H + j)), v(1, b, j)];
        out.push([at(0, b, j), s], [at(0, b, H + j), g], [at(2, b, j), s * p + (1 - s) * g]);
      } else if (kind === URLSTM) {
        const [f, r, o, u] = [sigmoid(v(0, b, j)), sigmoid(v(0, b, H + j)), sigmoid(v(0, b, 2 * H + j)), Math.tanh(v(0, b, 3 * H + j))];
        const [cp, hp] = [v(1, b, j), v(2, b, j)];
        const e = f * f + 2 * r * (f - f * f);
        const cn = u + e * (cp - u);
        const hn = o * Math.tanh(cn);
        [f, r, o, u].forEach((x, g) => out.push([at(0, b, g * H + j), x]));
        out.push([at(3, b, j), cn + 0.25 * (cp - cn)], [at(4, b, j), hn + 0.5 * (hp - hn)]);
      } else {
        const h = v(0, b, j);
        out.push([at(3, b, j), (v(2, b, j) + v(1, b, j)) * (1 - h * h)]);
      }
    }
  return out;
}

describe.skipIf(!step || !setThreads)('the native step math of STAR, JANET, SimpleRNN, UR-LSTM, DMU and the LSTM gradient', () => {
  afterAll(() => setThreads!(1));

  // H = 13: a 5-unit tail after one 8-lane block; scale 100 reaches exp's clamp (±87).
  it.each([STAR, STAR_OFFICIAL, STAR_GRAD, STAR_OFFICIAL_GRAD, JANET, JANET_GRAD, TANH_GRAD, URLSTM, DMU, LSTM_GRAD].flatMap((kind) => [
    [kind, 3, 13, 8],
    [kind, 37, 16, 100],
    [kind, 16, 128, 4],
  ]))('kind %i, B %i, H %i, |values| < %i: the float64 formulas within 1e-6 + 4e-6 relative, nothing else written', (kind, B, H, scale) => {
    const out = run(kind, 1, B, H, scale);
    const start = layout(kind, B, H, scale).mem;
    const want = expected(kind, B, H, scale);
    let worst = { excess: -Infinity, at: 0 };
    for (const [q, v] of want) {
      const excess = Math.abs(out[q] - v) - (1e-6 + 4e-6 * Math.abs(v));
      if (excess > worst.excess) worst = { excess, at: q };
    }
    expect(worst.excess, `at ${worst.at}`).toBeLessThanOrEqual(0);
    const written = new Set(want.map(([q]) => q));
    for (let q = 0; q < out.length; q++) if (!written.has(q) && !Object.is(out[q], start[q])) throw new Error(`float ${q} changed`);
  });

  it.each([
    [STAR, 37, 128],
    [STAR_OFFICIAL_GRAD, 33, 129],
    [JANET, 64, 128],
    [JANET_GRAD, 5, 300],
    [TANH_GRAD, 32, 13],
    [URLSTM, 32, 128],
    [DMU, 48, 64],
    [LSTM_GRAD, 37, 100],
  ])('kind %i, B %i, H %i: bit-identical on 1, 2, 3 and 5 threads, split by rows of 1024 units a thread', (kind, B, H) => {
    const one = run(kind, 1, B, H, 6);
    const before = threadedProducts!();
    for (const n of [2, 3, 5]) expect(Buffer.from(run(kind, n, B, H, 6).buffer).equals(Buffer.from(one.buffer)), `${n} threads`).toBe(true);
    expect(threadedProducts!() - before).toBe(B * H >= 2048 ? 3 : 0);
  });

  it.skipIf(!hasWide).each([STAR, STAR_OFFICIAL, STAR_GRAD, STAR_OFFICIAL_GRAD, JANET, JANET_GRAD, TANH_GRAD, URLSTM, DMU, LSTM_GRAD].flatMap((kind) => [
    [kind, 3, 13, 100],
    [kind, 5, 40, 3],
    [kind, 37, 100, 6],
  ]))('kind %i, B %i, H %i, |values| < %i: 16 lanes (setWide) give the bits of 8, on 1 and 2 threads', (kind, B, H, scale) => {
    expectWidthsAgree((threads) => run(kind, threads, B, H, scale));
  });

  it('rejects a wrong argument count, a bad kind, a block or an operand outside the buffer and a misaligned offset', () => {
    const mem = new Float32Array(64);
    const ints = new Int32Array(mem.buffer);
    const buf = mem.buffer as ArrayBuffer;
    ints.set([0, 8, 64, 4, 128, 4], 40); // STAR, B 2, H 4: a [2, 8], hp and h [2, 4]
    expect(() => step!(buf, STAR, 2, 4, 160)).not.toThrow();
    expect(() => (step as unknown as (...a: unknown[]) => void)(buf, 0, 1, 2)).toThrow(/step takes 5 or 6 arguments/);
    expect(() => step!(buf, 14, 2, 4, 160)).toThrow(/kind must be 0 to 13/);
    expect(() => step!(buf, STAR, 2, 4, 240)).toThrow(/argument block lies outside/);
    expect(() => step!(buf, STAR, 2, 40, 160)).toThrow(/operand lies outside/);
    expect(() => step!(buf, STAR, 2, 4, 162)).toThrow(/multiple of 4/);
    ints[41] = -1;
    expect(() => step!(buf, STAR, 2, 4, 160)).toThrow(/negative row stride/);
  });
});
