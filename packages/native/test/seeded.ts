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
