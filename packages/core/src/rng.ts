/**
 * A small seeded PRNG (mulberry32) so initialisation and data generation are
 * reproducible independently of tf's global random state.
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  uniform(lo: number, hi: number): number;
  /** Standard normal (Box–Muller). */
  normal(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  /** A fresh independent stream derived from this one and a label. */
  fork(label: string | number): Rng;
  readonly seed: number;
}

export function hashSeed(...parts: Array<string | number>): number {
  let h = 2166136261 >>> 0;
  for (const p of parts) {
    const s = String(p);
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 16777619) >>> 0;
    }
    h ^= 0x9e3779b9;
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h >>> 0;
}

export function createRng(seed: number): Rng {
  let a = seed >>> 0;
  let spare: number | undefined;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    seed,
    next,
    uniform: (lo, hi) => lo + (hi - lo) * next(),
    normal() {
      if (spare !== undefined) {
        const s = spare;
        spare = undefined;
        return s;
      }
      let u = 0;
      while (u === 0) u = next();
      const v = next();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    },
    int: (n) => Math.floor(next() * n),
    fork: (label) => createRng(hashSeed(seed, label)),
  };
}

/**
 * Inverted-dropout masks from a counter-based hash, so a cell's generic step and its fused
 * kernel drop the same units without passing masks around: element i of stream `seed` is
 * kept (value 1/keep in float32, else 0) when the top 24 bits of lowbias32(seed + i·0x9e3779b9)
 * fall below round(keep·2^24). kernel/cellstack_kernel.h's cs_dropout_mask is the C twin
 * (given `dropoutThreshold(keep)` and `Math.fround(1 / keep)`); offset is the index of out[0].
 */
export function dropoutMask(out: Float32Array, seed: number, offset: number, keep: number): Float32Array {
  const threshold = dropoutThreshold(keep);
  // [kept, dropped], indexed by the sign of (bits − threshold): no branch on a coin flip (2–3× faster).
  const values = Float32Array.of(Math.fround(1 / keep), 0);
  for (let i = 0; i < out.length; i++) {
    let x = (seed + Math.imul(offset + i, 0x9e3779b9)) | 0;
    x ^= x >>> 16;
    x = Math.imul(x, 0x7feb352d);
    x ^= x >>> 15;
    x = Math.imul(x, 0x846ca68b);
    x ^= x >>> 16;
    out[i] = values[(((x >>> 8) - threshold) >> 31) + 1];
  }
  return out;
}

/** The kept-element threshold of `dropoutMask` for keep probability `keep` in (0, 1]. */
export function dropoutThreshold(keep: number): number {
  return Math.round(keep * 2 ** 24);
}

let trainingStep: number | undefined;

/**
 * Tell the cells which optimisation step the next training call belongs to (a training
 * loop calls it before each step; undefined: none). Random streams made by `stepSeeds`
 * are keyed by it, so a run resumed at step N draws the masks an uninterrupted run would.
 */
export function setTrainingStep(step: number | undefined): void {
  trainingStep = step;
}

/**
 * A layer's source of mask seeds (ints in [0, 2^31)): the k-th draw of training step s is
 * hashSeed(seed, label, s, k), a pure function of (seed, step, layer) — nothing carries
 * over between steps. Without a step set, draws are numbered from the layer's creation.
 */
export function stepSeeds(seed: number, label: string): () => number {
  let step: number | undefined;
  let k = 0;
  let free = 0;
  return () => {
    if (trainingStep === undefined) return hashSeed(seed, label, 'call', free++) & 0x7fffffff;
    if (step !== trainingStep) [step, k] = [trainingStep, 0];
    return hashSeed(seed, label, step, k++) & 0x7fffffff;
  };
}
