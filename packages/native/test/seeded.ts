import { createRequire } from 'node:module';
import { expect } from 'vitest';
const { setWide, isa } = createRequire(import.meta.url)('@cellstack/native') as typeof import('@cellstack/native');
/** The width the addon chose at load (its `isa` names the default). */
export const loadedWide = isa.includes('gate math avx512f');

/** Whether this CPU runs the gate math 16 lanes wide (`setWide`). */
export const hasWide = !!setWide?.(true);
setWide?.(loadedWide);

/** `run` with the gate math 8 lanes wide, then 16: [8 lanes' result, 16 lanes'], the addon's own choice restored. */
export function atBothWidths(run: () => Float32Array): [Float32Array, Float32Array] {
  try {
    setWide!(false);
    const narrow = run();
    setWide!(true);
    return [narrow, run()];
  } finally {
    setWide!(loadedWide);
  }
}

/** `run(threads)` on 1 and 2 threads gives the same bytes with the gate math 8 and 16 lanes wide. */
export function expectWidthsAgree(run: (threads: number) => Float32Array): void {
  for (const threads of [1, 2]) {
    const [narrow, wide] = atBothWidths(() => run(threads));
    expect(Buffer.from(wide.buffer).equals(Buffer.from(narrow.buffer)), `${threads} threads`).toBe(true);
  }
}

/** Seeded values in [-1, 1) (a small LCG: the tests must not depend on Math.random). */
export function fill(a: Float32Array, seed: number): Float32Array {
  let s = seed >>> 0;
  for (let i = 0; i < a.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 31 - 1;
  }
  return a;
}

/** One product's shape: C[M, N] (+)= A[M, K] · B[K, N], A optionally stored transposed, rows padded by `pad`. */
export interface Case { M: number; N: number; K: number; transposeA?: boolean; pad?: number; accumulate?: boolean }
