import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import { atBothWidths, expectWidthsAgree, fill, hasWide, loadedWide } from './seeded.js';

const { gates, setThreads, setWide, threadedProducts } = createRequire(import.meta.url)('@cellstack/native') as typeof import('@cellstack/native');

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const [LSTM, GRU_RESET, GRU_BLEND, TANH] = [0, 1, 2, 3];
type Kind = typeof LSTM | typeof GRU_RESET | typeof GRU_BLEND | typeof TANH;

/**
 * z [B, ldz], prev [B, ldp], c [B, H], h [B, ldh] one after another (float offsets), seeded
 * values in [-scale, scale): pre-activations up to ±100 reach exp's clamp (±87), and every
 * scale reaches both of tanh's branches (|x| < 0.625 and above).
 */
function layout(kind: Kind, B: number, H: number, scale: number) {
  const ldz = (kind === LSTM ? 4 : kind === TANH ? 1 : 3) * H + 1;
  const [ldp, ldh] = [H + 2, H + 3];
  const [z, prev, c, h] = [0, B * ldz, B * (ldz + ldp), B * (ldz + ldp + H)];
  const mem = fill(new Float32Array(h + B * ldh + 4), B * 31 + H + kind);
  for (let i = 0; i < c; i++) mem[i] *= scale;
  return { mem, z, ldz, prev, ldp, c, h, ldh };
}

function run(kind: Kind, threads: number, B: number, H: number, scale: number): Float32Array {
  setThreads!(threads);
  const { mem, z, ldz, prev, ldp, c, h, ldh } = layout(kind, B, H, scale);
  gates!(mem.buffer as ArrayBuffer, kind, B, H, 4 * z, ldz, 4 * prev, ldp, 4 * c, 4 * h, ldh);
  return mem;
}

/** What each kind writes, from the float64 formulas: [float offset, value] pairs. */
function expected(kind: Kind, B: number, H: number, scale: number): [number, number][] {
  const { mem, z, ldz, prev, ldp, c, h, ldh } = layout(kind, B, H, scale);
  const out: [number, number][] = [];
  for (let b = 0; b < B; b++)
    for (let j = 0; j < H; j++) {
      const pre = (g: number) => mem[z + b * ldz + g * H + j];
      const p = mem[prev + b * ldp + j];
      if (kind === LSTM) {
        const [i, f, g, o] = [sigmoid(pre(0)), sigmoid(pre(1)), Math.tanh(pre(2)), sigmoid(pre(3))];
        const cj = f * p + i * g;
        [i, f, g, o].forEach((v, k) => out.push([z + b * ldz + k * H + j, v]));
        out.push([c + b * H + j, cj], [h + b * ldh + j, o * Math.tanh(cj)]);
      } else if (kind === TANH) {
        out.push([z + b * ldz + j, Math.tanh(pre(0))]);
      } else if (kind === GRU_RESET) {
        out.push([z + b * ldz + j, sigmoid(pre(0))], [z + b * ldz + H + j, sigmoid(pre(1))], [h + b * ldh + j, sigmoid(pre(1)) * p]);
      } else {
        const hh = Math.tanh(pre(2));
        out.push([z + b * ldz + 2 * H + j, hh], [h + b * ldh + j, hh + pre(0) * (p - hh)]);
      }
    }
  return out;
}

describe.skipIf(!gates || !setThreads)('the native gate math of a recurrent step', () => {
  afterAll(() => setThreads!(1));

  // H = 13: a 5-unit tail after one 8-lane block; every operand with rows apart (padding between them).
  it.each([
    ...[LSTM, GRU_RESET, GRU_BLEND, TANH].flatMap((kind) => [
      [kind, 3, 13, 8],
      [kind, 37, 16, 100],
      [kind, 16, 128, 4],
    ]),
  ] as [Kind, number, number, number][])('kind %i, B %i, H %i, |values| < %i: the float64 formulas within 2e-7 + 1e-6 relative, nothing else written', (kind, B, H, scale) => {
    const out = run(kind, 1, B, H, scale);
    const start = layout(kind, B, H, scale).mem;
    const want = expected(kind, B, H, scale);
    let worst = { excess: -Infinity, at: 0 };
    for (const [q, v] of want) {
      const excess = Math.abs(out[q] - v) - (2e-7 + 1e-6 * Math.abs(v));
      if (excess > worst.excess) worst = { excess, at: q };
    }
    expect(worst.excess, `at ${worst.at}`).toBeLessThanOrEqual(0);
    const written = new Set(want.map(([q]) => q));
    for (let q = 0; q < out.length; q++) if (!written.has(q) && out[q] !== start[q]) throw new Error(`float ${q} changed`);
  });

  it.each([
    [LSTM, 37, 128],
    [GRU_RESET, 5, 300],
    [GRU_BLEND, 64, 128],
    [TANH, 33, 129],
    [LSTM, 32, 13],
  ] as [Kind, number, number][])('kind %i, B %i, H %i: bit-identical on 1, 2, 3 and 5 threads, split by rows of 1024 units a thread', (kind, B, H) => {
    const one = run(kind, 1, B, H, 6);
    const before = threadedProducts!();
    for (const n of [2, 3, 5]) expect(Buffer.from(run(kind, n, B, H, 6).buffer).equals(Buffer.from(one.buffer)), `${n} threads`).toBe(true);
    expect(threadedProducts!() - before).toBe(B * H >= 2048 ? 3 : 0);
  });

  it('a NaN pre-activation stays NaN (the clamps do not hide it); ±∞ and ±100 saturate', () => {
    const mem = Float32Array.of(NaN, 100, -100, Infinity, -Infinity, 0.3, -0.3, 0, ...new Array(8).fill(0));
    setThreads!(1);
    gates!(mem.buffer as ArrayBuffer, TANH, 1, 8, 0, 8, 0, 8, 0, 0, 8);
    expect(Array.from(mem.subarray(0, 5))).toEqual([NaN, 1, -1, 1, -1]);
    expect(mem[5]).toBeCloseTo(Math.tanh(0.3), 7);
    expect(mem[6]).toBe(-mem[5]);
    expect(mem[7]).toBe(0);
    // LSTM, B 1, H 4: i's pre-activations NaN, 100, −100, 0; every other gate 0; c_prev (floats 16–19) 0, c at 20, h at 24.
    const z = Float32Array.of(NaN, 100, -100, 0, ...new Array(24).fill(0));
    gates!(z.buffer as ArrayBuffer, LSTM, 1, 4, 0, 16, 64, 4, 80, 96, 4);
    expect([z[0], z[1], z[3]]).toEqual([NaN, 1, 0.5]);
    expect(z[2]).toBeGreaterThanOrEqual(0);
    expect(z[2]).toBeLessThan(1e-38); // 1 / (1 + e^88): exp clamps its argument at 88
    expect([z[20], z[24], z[21], z[25]]).toEqual([NaN, NaN, 0, 0]); // c and h: NaN for that unit only
  });

  it.skipIf(!hasWide).each([
    ...[LSTM, GRU_RESET, GRU_BLEND, TANH].flatMap((kind) => [
      [kind, 3, 13, 100],
      [kind, 5, 40, 3],
      [kind, 16, 128, 8],
    ]),
  ] as [Kind, number, number, number][])('kind %i, B %i, H %i, |values| < %i: 16 lanes (setWide) give the bits of 8, on 1 and 2 threads', (kind, B, H, scale) => {
    expectWidthsAgree((threads) => run(kind, threads, B, H, scale));
  });

  it.skipIf(!hasWide)("16 lanes give the bits of 8 at the edges: NaN, ±∞, ±0, exp's clamps (±87, 88), tanh's branch point (±0.625)", () => {
    const edges = [NaN, Infinity, -Infinity, 0, -0, 87, -87, 88, -88, 87.5, -87.5, 44, -44, 0.625, -0.625, 0.62499994, 1e-30, -1e-30, 20, -20];
    const once = () => {
      // LSTM, B 2, H 40 (16-lane blocks and an 8-unit tail): z [2, 160], c_prev [2, 40], c and h after them.
      const mem = fill(new Float32Array(2 * 160 + 3 * 2 * 40), 7);
      for (let i = 0; i < 2 * 160 + 80; i++) mem[i] = i % 3 ? edges[i % edges.length] : mem[i] * 30;
      setThreads!(1);
      gates!(mem.buffer as ArrayBuffer, LSTM, 2, 40, 0, 160, 4 * 320, 40, 4 * 400, 4 * 480, 40);
      return mem;
    };
    const [narrow, wide] = atBothWidths(once);
    expect(Buffer.from(wide.buffer).equals(Buffer.from(narrow.buffer))).toBe(true);
    expect(narrow.some(Number.isNaN)).toBe(true);
  });

  it('setWide takes one boolean and says whether 16 lanes are in use', () => {
    expect(() => (setWide as unknown as (x: unknown) => boolean)(1)).toThrow('setWide takes one boolean');
    expect(() => (setWide as unknown as () => boolean)()).toThrow('setWide takes one boolean');
    expect(setWide!(false)).toBe(false);
    expect(setWide!(true)).toBe(hasWide);
    setWide!(loadedWide);
  });

  it('rejects a wrong argument count, a bad kind, an operand outside the buffer and a misaligned offset', () => {
    const mem = new Float32Array(64);
    const buf = mem.buffer as ArrayBuffer;
    expect(() => (gates as unknown as (...a: unknown[]) => void)(buf, 0, 1, 2)).toThrow(/gates takes 11 arguments/);
    expect(() => gates!(buf, 4, 1, 2, 0, 8, 0, 2, 0, 0, 2)).toThrow(/kind must be 0 \(LSTM\), 1 \(GRU reset\), 2 \(GRU blend\) or 3 \(tanh\)/);
    expect(() => gates!(buf, TANH, 3, 30, 0, 30, 0, 0, 0, 0, 0)).toThrow(/outside the buffer/);
    expect(() => gates!(buf, LSTM, 3, 8, 0, 32, 0, 8, 0, 0, 8)).toThrow(/outside the buffer/);
    expect(() => gates!(buf, GRU_BLEND, 1, 2, 2, 6, 0, 2, 0, 0, 2)).toThrow(/multiple of 4/);
  });
});
