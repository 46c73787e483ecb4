import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import { fill } from './seeded.js';

const { lstmGates, setThreads, threadedProducts } = createRequire(import.meta.url)('@cellstack/native') as typeof import('@cellstack/native');

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** z [B, 4H], cPrev and c [B, H], h with rows ldh apart, laid out one after another; pre-activations in [-scale, scale). */
function layout(B: number, H: number, ldh: number, scale: number) {
  const [z, cp, c, h] = [0, 4 * B * H, 5 * B * H, 6 * B * H];
  const mem = fill(new Float32Array(h + B * ldh + 4), B * 31 + H);
  for (let i = 0; i < 5 * B * H; i++) mem[i] *= scale;
  return { mem, z, cp, c, h };
}

function gates(threads: number, B: number, H: number, ldh: number, scale: number): Float32Array {
  setThreads!(threads);
  const { mem, z, cp, c, h } = layout(B, H, ldh, scale);
  lstmGates!(mem.buffer as ArrayBuffer, B, H, 4 * z, 4 * cp, 4 * c, 4 * h, ldh);
  return mem;
}

describe.skipIf(!lstmGates || !setThreads)('the native LSTM gate math', () => {
  afterAll(() => setThreads!(1));

  // H = 13: a 5-unit tail after one 8-lane block; ldh > H: h's rows apart, as in [B, T, H] outputs.
  // Pre-activations up to ±100 reach exp's clamp (±87) and tanh's both branches (|x| < 0.625 and above).
  it.each([
    [3, 13, 20, 8],
    [37, 16, 16, 100],
    [64, 128, 256, 4],
  ])('B %i, H %i, ldh %i, |z| < %i: equals the float64 formulas within 2e-7 (+ 1e-6 relative)', (B, H, ldh, scale) => {
    const out = gates(1, B, H, ldh, scale);
    const { mem: start, z, cp, c, h } = layout(B, H, ldh, scale);
    let worst = { excess: -Infinity, what: '' };
    const close = (got: number, want: number, what: string) => {
      const excess = Math.abs(got - want) - (2e-7 + 1e-6 * Math.abs(want));
      if (excess > worst.excess) worst = { excess, what: `${what}: ${got} vs ${want}` };
    };
    for (let b = 0; b < B; b++)
      for (let j = 0; j < H; j++) {
        const pre = [0, 1, 2, 3].map((g) => start[z + b * 4 * H + g * H + j]);
        const [i, f, g, o] = [sigmoid(pre[0]), sigmoid(pre[1]), Math.tanh(pre[2]), sigmoid(pre[3])];
        const cj = f * start[cp + b * H + j] + i * g;
        [i, f, g, o].forEach((v, k) => close(out[z + b * 4 * H + k * H + j], v, `gate ${k} (${b}, ${j})`));
        close(out[c + b * H + j], cj, `c (${b}, ${j})`);
        close(out[h + b * ldh + j], o * Math.tanh(cj), `h (${b}, ${j})`);
      }
    expect(worst.excess, worst.what).toBeLessThanOrEqual(0);
    // Nothing else changed: cPrev, the gaps between h's rows, the guard after them.
    for (let q = cp; q < c; q++) expect(out[q]).toBe(start[q]);
    for (let b = 0; b < B; b++) for (let q = h + b * ldh + H; q < h + (b + 1) * ldh; q++) expect(out[q]).toBe(start[q]);
    expect(Array.from(out.subarray(h + B * ldh))).toEqual(Array.from(start.subarray(h + B * ldh)));
  });

  it.each([
    [37, 128],
    [5, 300],
    [32, 13],
  ])('B %i, H %i: bit-identical on 1, 2, 3 and 5 threads, split by rows when each has 1024 units', (B, H) => {
    const one = gates(1, B, H, H + 3, 6);
    const before = threadedProducts!();
    for (const n of [2, 3, 5]) expect(Buffer.from(gates(n, B, H, H + 3, 6).buffer).equals(Buffer.from(one.buffer)), `${n} threads`).toBe(true);
    expect(threadedProducts!() - before).toBe(B * H >= 2048 ? 3 : 0);
  });

  it('rejects a wrong argument count and an operand outside the buffer', () => {
    const mem = new Float32Array(64);
    expect(() => (lstmGates as unknown as (...a: unknown[]) => void)(mem.buffer, 1, 2)).toThrow(/lstmGates takes 8 arguments/);
    expect(() => lstmGates!(mem.buffer as ArrayBuffer, 3, 8, 0, 0, 0, 0, 8)).toThrow(/outside the buffer/);
    expect(() => lstmGates!(mem.buffer as ArrayBuffer, 1, 2, 2, 0, 0, 0, 2)).toThrow(/multiple of 4/);
  });
});
