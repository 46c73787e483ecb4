import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import { expectWidthsAgree, fill, hasWide } from './seeded.js';

const { step, matmul, gates, setThreads, threadedProducts } = createRequire(import.meta.url)('@cellstack/native') as typeof import('@cellstack/native');

const SIMPLE_RNN = 10;
const GATES_TANH = 3;

/**
 * out [B, T·H] (rows padded by 3 floats) holding seeded z_t, then h0 [B, H] (padded by 1) and U [H, H]
 * (padded by 2), seeded in [-1, 1) × scale (U × scale / √H, so h·U stays in tanh's working range), then the block.
 */
function layout(T: number, B: number, H: number, scale: number) {
  const ldo = T * H + 3, ldh = H + 1, ldu = H + 2;
  const [out, h0, U] = [0, B * ldo, B * ldo + B * ldh];
  const block = U + H * ldu;
  const mem = fill(new Float32Array(block + 7 + 2), T * 7 + B * 31 + H);
  for (let i = 0; i < U; i++) mem[i] *= scale;
  for (let i = U; i < block; i++) mem[i] *= scale / Math.sqrt(H);
  new Int32Array(mem.buffer).set([4 * out, ldo, 4 * h0, ldh, 4 * U, ldu, T], block);
  return { mem, out, h0, U, ldo, ldh, ldu, block };
}

function run(T: number, B: number, H: number, scale: number, threads: number): Float32Array {
  setThreads!(threads);
  const { mem, block } = layout(T, B, H, scale);
  step!(mem.buffer as ArrayBuffer, SIMPLE_RNN, B, H, 4 * block);
  return mem;
}

describe.skipIf(!step || !matmul || !gates || !setThreads || !threadedProducts)("the native SimpleRNN forward loop (step kind 10)", () => {
  afterAll(() => setThreads!(1));

  it.each([
    [1, 3, 13, 1],
    [5, 3, 13, 2],
    [7, 37, 16, 3],
    [4, 32, 128, 1],
  ])('T %i, B %i, H %i, scale %i: h_t = tanh(z_t + h_{t−1} U) in float64 within 1e-5, nothing else written', (T, B, H, scale) => {
    const got = run(T, B, H, scale, 1);
    const { mem, out, h0, U, ldo, ldh, ldu } = layout(T, B, H, scale);
    for (let b = 0; b < B; b++) {
      let prev = Array.from({ length: H }, (_, j) => mem[h0 + b * ldh + j]);
      for (let t = 0; t < T; t++) {
        const h = prev.map((_, j) => {
          let s = mem[out + b * ldo + t * H + j];
          for (let k = 0; k < H; k++) s += prev[k] * mem[U + k * ldu + j];
          return Math.tanh(s);
        });
        h.forEach((v, j) => expect(Math.abs(got[out + b * ldo + t * H + j] - v), `b ${b} t ${t} j ${j}`).toBeLessThanOrEqual(1e-5));
        prev = h;
      }
    }
    for (let q = 0; q < got.length; q++) {
      const inOut = q < out + B * ldo && (q - out) % ldo < T * H;
      if (!inOut && !Object.is(got[q], mem[q])) throw new Error(`float ${q} changed`);
    }
  });

  it.each([
    [6, 32, 128],
    [3, 37, 129],
    [4, 5, 300],
  ])('T %i, B %i, H %i: bit-identical on 1, 2, 3 and 5 threads (the batch split over the pool), and to per-step matmul + tanh gates calls', (T, B, H) => {
    const one = run(T, B, H, 1, 1);
    for (const n of [2, 3, 5]) {
      const before = threadedProducts!();
      expect(Buffer.from(run(T, B, H, 1, n).buffer).equals(Buffer.from(one.buffer)), `${n} threads`).toBe(true);
      // Each thread runs every step on its slice of the batch (≥ 2^18 multiply-adds and a row each): one pool job a pass.
      expect(threadedProducts!() - before).toBe(Math.min(n, Math.floor((T * B * H * H) / 2 ** 18), B) >= 2 ? 1 : 0);
    }
    setThreads!(2);
    const { mem, out, h0, U, ldo, ldh, ldu } = layout(T, B, H, 1);
    const buf = mem.buffer as ArrayBuffer;
    for (let t = 0; t < T; t++) {
      const h = 4 * (out + t * H);
      if (t) matmul!(buf, B, H, H, h - 4 * H, ldo, 1, 4 * U, ldu, h, ldo, 1);
      else matmul!(buf, B, H, H, 4 * h0, ldh, 1, 4 * U, ldu, h, ldo, 1);
      gates!(buf, GATES_TANH, B, H, h, ldo, 0, 0, 0, 0, 0);
    }
    const block = layout(T, B, H, 1).block;
    expect(Buffer.from(mem.buffer, 0, 4 * block).equals(Buffer.from(one.buffer, 0, 4 * block))).toBe(true);
  });

  it.skipIf(!hasWide)('T 6, B 9, H 40, scale 3: 16 lanes (setWide) give the bits of 8, on 1 and 2 threads', () => {
    expectWidthsAgree((threads) => run(6, 9, 40, 3, threads));
  });

  it('T 0 writes nothing; rejects a negative T, a block or an operand outside the buffer, a negative stride and a misaligned offset', () => {
    const { mem, block } = layout(2, 2, 4, 1);
    const buf = mem.buffer as ArrayBuffer;
    const ints = new Int32Array(buf);
    const at = 4 * block;
    ints[block + 6] = 0;
    const start = Float32Array.from(mem);
    step!(buf, SIMPLE_RNN, 2, 4, at);
    expect(Buffer.from(buf).equals(Buffer.from(start.buffer))).toBe(true);
    ints[block + 6] = -1;
    expect(() => step!(buf, SIMPLE_RNN, 2, 4, at)).toThrow(/SimpleRNN's step count T is negative/);
    ints[block + 6] = 2;
    expect(() => step!(buf, SIMPLE_RNN, 2, 4, at)).not.toThrow();
    expect(() => step!(buf, SIMPLE_RNN, 2, 4, at + 12)).toThrow(/argument block lies outside/);
    expect(() => step!(buf, SIMPLE_RNN, 2, 40, at)).toThrow(/operand lies outside/);
    expect(() => step!(buf, SIMPLE_RNN, 2, 4, at + 2)).toThrow(/multiple of 4/);
    expect(() => step!(buf, 14, 2, 4, at)).toThrow(/kind must be 0 to 13/);
    ints[block + 6] = 1000;
    expect(() => step!(buf, SIMPLE_RNN, 2, 4, at)).toThrow(/operand lies outside/);
    ints[block + 6] = 2;
    ints[block + 4] = 4 * 10000;
    expect(() => step!(buf, SIMPLE_RNN, 2, 4, at)).toThrow(/operand lies outside/);
    ints[block + 4] = 2;
    expect(() => step!(buf, SIMPLE_RNN, 2, 4, at)).toThrow(/multiple of 4/);
    ints[block + 4] = 0;
    ints[block + 3] = -1;
    expect(() => step!(buf, SIMPLE_RNN, 2, 4, at)).toThrow(/negative row stride/);
  });
});
