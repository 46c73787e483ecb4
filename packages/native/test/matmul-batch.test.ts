import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import { fill } from './seeded.js';

const { matmul, matmulBatch, setThreads, threadedProducts } = createRequire(import.meta.url)('@cellstack/native') as typeof import('@cellstack/native');

/**
 * The three batched products of a layer's input projection (cs_project and its backward in
 * kernel/cellstack_kernel.h), one a step: x [B, T, F], activations z [T, B, G], W [F, G], Wᵀ [G, F].
 *   project:  z_t = x_t · W          (T products, separate Cs; x_t's rows T·F apart)
 *   weights:  dW += Σ_t x_tᵀ · dz_t  (T products into one C)
 *   inputs:   dx_t = dz_t · Wᵀ       (T products, separate Cs with rows T·F apart)
 * Each as [count, bsa, bsb, bsc, M, N, K, A, sa, sk, B, ldb, C, ldc, accumulate] (floats; offsets become bytes below).
 */
function cases(B: number, T: number, F: number, G: number) {
  const [x, W, Wt, z, dW, dx] = [0, B * T * F, B * T * F + F * G, B * T * F + 2 * F * G, B * T * F + 2 * F * G + T * B * G, 2 * B * T * F + 3 * F * G + T * B * G];
  const size = dx + B * T * F;
  return {
    size,
    project: [T, F, 0, B * G, B, G, F, x, T * F, 1, W, G, z, G, 0],
    weights: [T, F, B * G, 0, F, G, B, x, 1, T * F, z, G, dW, G, 1],
    inputs: [T, B * G, 0, F, B, F, G, z, G, 1, Wt, F, dx, T * F, 0],
  };
}

/** The whole buffer after `args` on `threads` threads, through matmulBatch or as `count` matmul calls. */
function run(threads: number, size: number, args: number[], batched: boolean): Float32Array {
  setThreads!(threads);
  const mem = fill(new Float32Array(size), size);
  const [count, bsa, bsb, bsc, M, N, K, A, sa, sk, Bo, ldb, C, ldc, acc] = args;
  if (batched) matmulBatch!(mem.buffer as ArrayBuffer, count, bsa, bsb, bsc, M, N, K, 4 * A, sa, sk, 4 * Bo, ldb, 4 * C, ldc, acc);
  else
    for (let i = 0; i < count; i++)
      matmul!(mem.buffer as ArrayBuffer, M, N, K, 4 * (A + i * bsa), sa, sk, 4 * (Bo + i * bsb), ldb, 4 * (C + i * bsc), ldc, acc || (bsc === 0 && i > 0) ? 1 : 0);
  return mem;
}

const same = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe.skipIf(!matmulBatch || !matmul || !setThreads)('native batched products (matmulBatch)', () => {
  afterAll(() => setThreads!(1));

  // W1's projection (B 32, T 100, F 10, G 512), odd sizes with column tails, and a batch of one.
  it.each([
    [32, 100, 10, 512],
    [7, 13, 5, 37],
    [3, 41, 9, 130],
    [1, 50, 12, 96],
  ])('B %i, T %i, F %i, G %i: each product equals its matmul calls bit for bit, on 1, 2 and 3 threads', (B, T, F, G) => {
    const c = cases(B, T, F, G);
    for (const name of ['project', 'weights', 'inputs'] as const) {
      const one = run(1, c.size, c[name], false);
      const before = threadedProducts!();
      for (const n of [1, 2, 3]) expect(same(run(n, c.size, c[name], true), one), `${name} on ${n} threads`).toBe(true);
      // The large batches ran split over the threads (they were B one-thread calls before).
      if (B * T * F * G >= 2 ** 20) expect(threadedProducts!() - before, name).toBe(2);
    }
  });

  it('count 0 writes nothing; K 0 zeroes separate Cs, and a shared C once', () => {
    const mem = fill(new Float32Array(64), 3);
    const copy = mem.slice();
    matmulBatch!(mem.buffer as ArrayBuffer, 0, 4, 4, 4, 2, 2, 2, 0, 2, 1, 64, 2, 128, 2, 0);
    expect(same(mem, copy)).toBe(true);
    matmulBatch!(mem.buffer as ArrayBuffer, 3, 0, 0, 4, 2, 2, 0, 0, 0, 1, 0, 2, 128, 2, 0);
    expect(Array.from(mem.subarray(32, 44))).toEqual(new Array(12).fill(0));
    expect(same(mem.subarray(44), copy.subarray(44))).toBe(true);
  });

  it('rejects a wrong argument count, negative sizes or strides, a misaligned offset and any product outside the buffer', () => {
    const buf = new ArrayBuffer(4 * 100);
    const call = (...v: number[]) => (matmulBatch as unknown as (...a: unknown[]) => void)(buf, ...v);
    expect(() => call(1, 0, 0, 0, 2, 2, 2, 0, 2, 1, 16, 2, 32)).toThrow(/matmulBatch takes 16 arguments/);
    expect(() => call(-1, 0, 0, 0, 2, 2, 2, 0, 2, 1, 16, 2, 32, 2, 0)).toThrow(/negative count, size or stride/);
    expect(() => call(2, -4, 0, 0, 2, 2, 2, 0, 2, 1, 16, 2, 32, 2, 0)).toThrow(/negative count, size or stride/);
    expect(() => call(2, 0, 0, 0, 2, 2, 2, 2, 2, 1, 16, 2, 32, 2, 0)).toThrow(/multiple of 4/);
    // The first product fits; the tenth's C does not.
    expect(() => call(10, 0, 0, 10, 2, 2, 2, 0, 2, 1, 16, 2, 200, 2, 0)).toThrow(/operand lies outside the buffer/);
    expect(() => call(10, 0, 0, 0, 2, 2, 2, 0, 2, 1, 16, 2, 200, 2, 0)).not.toThrow();
    expect(() => (matmulBatch as unknown as (...a: unknown[]) => void)(new Float32Array(4), 1, 0, 0, 0, 1, 1, 1, 0, 1, 1, 0, 1, 0, 1, 0)).toThrow(/ArrayBuffer/);
  });
});
