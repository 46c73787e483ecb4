import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { fill, type Case } from './seeded.js';

const addonPath = createRequire(import.meta.url).resolve('@cellstack/native');
const { matmul, setThreads, threadedProducts, wake } = createRequire(import.meta.url)('@cellstack/native') as typeof import('@cellstack/native');

/** The whole buffer after one product of `c` on `threads` threads (the same seeded start every time). */
function product(threads: number, { M, N, K, transposeA = false, pad = 0, accumulate = false }: Case): Float32Array {
  setThreads!(threads);
  const [sa, sk] = transposeA ? [1, M + pad] : [K + pad, 1];
  const ld = N + pad;
  const sizeA = transposeA ? K * (M + pad) : M * (K + pad);
  const [offA, offB, offC] = [0, 4 * sizeA, 4 * (sizeA + K * ld)];
  const mem = fill(new Float32Array(offC / 4 + M * ld + 8), M + N + K);
  matmul!(mem.buffer as ArrayBuffer, M, N, K, offA, sa, sk, offB, ld, offC, ld, accumulate ? 1 : 0);
  return mem;
}

describe.skipIf(!matmul || !setThreads || !wake)('native products on a thread pool', () => {
  afterAll(() => setThreads!(1));

  // Odd shapes above the split size (2^18 multiply-adds a thread): column splits with 8- and
  // 1-column tails, row splits with row tails (narrow C, or a short reduction over many rows),
  // Aᵀ in place, padding, accumulation, reductions long enough to be chunked (claimed chunk by
  // chunk: by columns, W1's weight gradient among them, and by rows on 3 and 5 threads); and
  // small ones that stay on one thread.
  const cases: Case[] = [
    { M: 37, N: 301, K: 61 },
    { M: 67, N: 333, K: 97, transposeA: true },
    { M: 1031, N: 9, K: 120 },
    { M: 517, N: 20, K: 131, pad: 3, accumulate: true },
    { M: 129, N: 513, K: 700, transposeA: true, accumulate: true },
    { M: 139, N: 512, K: 3200, transposeA: true },
    { M: 1031, N: 20, K: 900, pad: 2 },
    { M: 32, N: 512, K: 128 },
    { M: 3203, N: 131, K: 10 },
    { M: 2051, N: 77, K: 63, transposeA: true, pad: 1, accumulate: true },
    { M: 128, N: 10, K: 3200, transposeA: true, accumulate: true }, // narrow, turned around (Cᵀ = Bᵀ·Aᵀ)
    { M: 7, N: 17, K: 5 },
  ];
  it.each(cases)('M $M, N $N, K $K (Aᵀ $transposeA, pad $pad, accumulate $accumulate): bit-identical on 1, 2, 3 and 5 threads', (c) => {
    const one = product(1, c);
    const before = threadedProducts!();
    for (const n of [2, 3, 5]) expect(Buffer.from(product(n, c).buffer).equals(Buffer.from(one.buffer)), `${n} threads`).toBe(true);
    const split = c.M * c.N * c.K >= 2 ** 19;
    expect(threadedProducts!() - before).toBe(split ? 3 : 0); // the large ones did run threaded
  });

  it('wake() before a product changes nothing in its result, and is a no-op with one thread', () => {
    const c = { M: 67, N: 129, K: 253 };
    const one = product(1, c);
    wake!();
    expect(Buffer.from(product(1, c).buffer).equals(Buffer.from(one.buffer))).toBe(true);
    setThreads!(3);
    wake!();
    expect(Buffer.from(product(3, c).buffer).equals(Buffer.from(one.buffer))).toBe(true);
  });

  it('caps threads at 64 and rejects anything but a positive integer', () => {
    expect(setThreads!(1000)).toBe(64);
    expect(setThreads!(availableParallelism())).toBe(availableParallelism());
    expect(() => setThreads!(0)).toThrow(/setThreads takes one positive integer/);
    expect(() => (setThreads as (n: unknown) => number)('2')).toThrow(/positive integer/);
  });

  // A threaded product, then: the script ends; process.exit(); a worker thread that used the
  // pool ends while the main thread keeps using it. Each process must exit at once with 0.
  const work = `const a = require(${JSON.stringify(addonPath)}); a.setThreads(4);
const run = () => { const m = new Float32Array(3 * 256 * 256); a.matmul(m.buffer, 256, 256, 256, 0, 256, 1, 262144, 256, 524288, 256, 0); };
run();`;
  it.each([
    ['the script ends', `${work}`],
    ['process.exit()', `${work} setTimeout(() => process.exit(0), 10);`],
    ['wake() leaves the workers spinning', `${work} a.wake(); run(); a.wake();`],
    ['a worker thread used the pool', `${work} const { Worker } = require('node:worker_threads');
new Worker(${JSON.stringify(work)}, { eval: true }).on('exit', () => { run(); console.log(a.threadedProducts()); });`],
  ])('a process exits promptly after threaded products: %s', (_, script) => {
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(r.signal, 'killed: the process hung at exit').toBeNull();
    expect(r.status, r.stderr).toBe(0);
  });
});
