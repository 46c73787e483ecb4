import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { fill, type Case } from './seeded.js';

type Matmul = NonNullable<typeof import('@cellstack/native').matmul>;
const { matmul, matmulBatch, isa } = createRequire(import.meta.url)('@cellstack/native') as typeof import('@cellstack/native');

// CI builds the addon and sets CELLSTACK_REQUIRE_NATIVE=1, so a missing build fails there.
it('is built where CI requires it', () => {
  if (process.env.CELLSTACK_REQUIRE_NATIVE === '1') expect(isa, isa).toMatch(/^(avx2\+fma(, gate math avx512f)?|neon)$/);
  else expect(typeof isa).toBe('string');
});

/** One product on a fresh buffer, checked against float64 arithmetic; returns the max error relative to Σ|a·b| (+ |c|). */
function check(run: Matmul, { M, N, K, transposeA = false, pad = 0, accumulate = false }: Case): number {
  const [sa, sk] = transposeA ? [1, M + pad] : [K + pad, 1];
  const ldb = N + pad;
  const ldc = N + pad;
  const sizeA = transposeA ? K * (M + pad) : M * (K + pad);
  const [offA, offB, offC] = [16, 16 + 4 * sizeA + 32, 16 + 4 * (sizeA + K * ldb) + 64];
  const floats = offC / 4 + M * ldc + 8; // 8 guard floats after C
  const mem = fill(new Float32Array(floats), M * 1000 + N * 10 + K);
  const before = mem.slice();
  run(mem.buffer as ArrayBuffer, M, N, K, offA, sa, sk, offB, ldb, offC, ldc, accumulate ? 1 : 0);
  let err = 0;
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = accumulate ? before[offC / 4 + i * ldc + j] : 0;
      let size = Math.abs(s);
      for (let k = 0; k < K; k++) {
        const p = before[offA / 4 + i * sa + k * sk] * before[offB / 4 + k * ldb + j];
        s += p;
        size += Math.abs(p);
      }
      err = Math.max(err, Math.abs(mem[offC / 4 + i * ldc + j] - s) / size);
    }
  // Nothing but C's M×N elements changed: not the padding between rows, not the guard.
  for (let p = 0; p < floats; p++) {
    const q = p - offC / 4;
    const inC = q >= 0 && Math.floor(q / ldc) < M && q % ldc < N;
    if (!inC && mem[p] !== before[p]) throw new Error(`wrote float ${p} outside C`);
  }
  return err;
}

describe.skipIf(!matmul)(`native matmul (${isa})`, () => {
  const run = matmul as Matmul;
  const cases: Case[] = [
    { M: 1, N: 1, K: 1 },
    { M: 32, N: 256, K: 128 },
    { M: 32, N: 128, K: 256, accumulate: true },
    { M: 7, N: 17, K: 5 },
    { M: 5, N: 15, K: 9, pad: 3 },
    { M: 13, N: 33, K: 11, transposeA: true },
    { M: 128, N: 24, K: 1000, transposeA: true, accumulate: true }, // long reduction, in chunks
    { M: 67, N: 37, K: 130, pad: 3, accumulate: true }, // packed B panels (M, K ≥ 64): two whole, one of 5 columns
    { M: 11, N: 8, K: 3, pad: 1, accumulate: true },
    { M: 3, N: 40, K: 2 },
    { M: 50, N: 10, K: 128, pad: 2, accumulate: true }, // a dense layer of 10 units: 8 columns and 2 masked in one pass
    { M: 37, N: 13, K: 300, transposeA: true, accumulate: true }, // its weight gradient's shape: Aᵀ, a long reduction
    { M: 9, N: 25, K: 7, pad: 1 }, // a 16-column panel, then 9 columns
    { M: 6, N: 9, K: 4 },
    ...[1, 2, 3, 4, 5, 6, 7, 12].map((M) => ({ M, N: 19, K: 6 })), // every row tail
  ];
  it.each(cases)('M $M, N $N, K $K, Aᵀ $transposeA, pad $pad, accumulate $accumulate', (c) => {
    expect(check(run, c)).toBeLessThan(1e-5);
  });

  // matmulBatch runs each product through the kernel as it stands; matmul turns a narrow C with Aᵀ in place around.
  it.each([
    { M: 128, N: 10, K: 3200, accumulate: true }, // W1's dense head's weight gradient
    { M: 37, N: 13, K: 300, pad: 3 },
    { M: 64, N: 1, K: 64, accumulate: true },
  ])('a narrow C with Aᵀ in place (M $M, N $N, K $K), computed as Cᵀ = Bᵀ·Aᵀ, is bit-identical to matmulBatch\'s', ({ M, N, K, pad = 0, accumulate }) => {
    const sk = M + pad;
    const [offB, offC] = [4 * K * sk, 4 * (K * sk + K * N)];
    const start = fill(new Float32Array(offC / 4 + M * (N + pad) + 8), M + N + K);
    const [one, batch] = [start.slice(), start.slice()];
    run(one.buffer as ArrayBuffer, M, N, K, 0, 1, sk, offB, N, offC, N + pad, accumulate ? 1 : 0);
    matmulBatch!(batch.buffer as ArrayBuffer, 1, 0, 0, 0, M, N, K, 0, 1, sk, offB, N, offC, N + pad, accumulate ? 1 : 0);
    expect(Buffer.from(one.buffer).equals(Buffer.from(batch.buffer))).toBe(true);
    expect(check(run, { M, N, K, transposeA: true, pad, accumulate })).toBeLessThan(1e-5);
  });

  it('K = 0 writes zeros, or leaves C when accumulating', () => {
    const mem = new Float32Array(16).fill(3);
    run(mem.buffer as ArrayBuffer, 2, 2, 0, 0, 0, 1, 0, 2, 32, 2, 1);
    expect(Array.from(mem.subarray(8, 12))).toEqual([3, 3, 3, 3]);
    run(mem.buffer as ArrayBuffer, 2, 2, 0, 0, 0, 1, 0, 2, 32, 2, 0);
    expect(Array.from(mem.subarray(8, 12))).toEqual([0, 0, 0, 0]);
    expect(mem[12]).toBe(3);
  });

  it('refuses operands outside the buffer, bad sizes and bad arguments with a RangeError', () => {
    const buf = new ArrayBuffer(64);
    expect(() => run(buf, 4, 4, 4, 0, 4, 1, 0, 4, 4, 4, 0)).toThrow(/outside the buffer/); // C ends at byte 68
    expect(() => run(buf, 2, 2, 2, 60, 2, 1, 0, 2, 32, 2, 0)).toThrow(/outside the buffer/);
    expect(() => run(buf, -1, 2, 2, 0, 2, 1, 0, 2, 32, 2, 0)).toThrow(/negative size/);
    expect(() => run(buf, 1, 1, 1, 2, 1, 1, 0, 1, 32, 1, 0)).toThrow(/multiple of 4/);
    expect(() => (run as (...a: unknown[]) => void)(new Float32Array(4), 1, 1, 1, 0, 1, 1, 0, 1, 0, 1, 0)).toThrow(/ArrayBuffer/);
    expect(() => (run as (...a: unknown[]) => void)(buf, 1, 1)).toThrow(/12 arguments/);
    expect(() => (run as (...a: unknown[]) => void)(buf, 1, 1, 1, 0, 1, 1, 0, 1, 'x', 1, 0)).toThrow(/must be numbers/);
    try {
      run(buf, 4, 4, 4, 0, 4, 1, 0, 4, 4, 4, 0);
    } catch (e) {
      expect(e).toBeInstanceOf(RangeError);
      expect((e as { code?: string }).code).toBe('ERR_CELLSTACK_NATIVE');
    }
  });
});
