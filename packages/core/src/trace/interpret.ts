import type { BinaryFn, BufferInfo, Op, UnaryFn } from './ir.js';
import { sizeOf } from './ir.js';

/**
 * The reference interpreter: runs a program's ops on Float32Arrays. Buffers are allocated
 * once and reused by every run (the time loop calls `run` T times); `reshape` aliases.
 * It defines the IR's semantics for the compiled interpreters and emitters.
 */
export class Interpreter {
  private readonly vals: Float32Array[];

  constructor(private readonly buffers: BufferInfo[], private readonly ops: Op[]) {
    this.vals = new Array<Float32Array>(buffers.length);
    const aliased = new Set(ops.filter((o) => o.op === 'reshape').map((o) => o.out));
    for (const o of ops) if (!aliased.has(o.out)) this.vals[o.out] = new Float32Array(sizeOf(buffers[o.out].shape));
  }

  bind(id: number, a: Float32Array): void {
    this.vals[id] = a;
  }

  get(id: number): Float32Array {
    return this.vals[id];
  }

  run(): void {
    for (const o of this.ops) this.exec(o);
  }

  private shape(id: number): number[] {
    return this.buffers[id].shape;
  }

  private exec(o: Op): void {
    const v = this.vals;
    const out = v[o.out];
    switch (o.op) {
      case 'fill':
        out.fill(o.value);
        return;
      case 'literal':
        out.set(o.values);
        return;
      case 'unary':
        unary(o.fn, v[o.x], out);
        return;
      case 'binary':
        this.broadcast3(o.out, [o.a, o.b], (i, j) => binary(o.fn, v[o.a], v[o.b], out, i, j));
        return;
      case 'select': {
        const [c, a, b] = [v[o.cond], v[o.a], v[o.b]];
        const idx = indexMaps(this.shape(o.out), [this.shape(o.cond), this.shape(o.a), this.shape(o.b)]);
        for (let i = 0; i < out.length; i++) out[i] = c[idx[0][i]] !== 0 ? a[idx[1][i]] : b[idx[2][i]];
        return;
      }
      case 'matmul':
        this.matmul(o);
        return;
      case 'reduce': {
        const xs = this.shape(o.x);
        const src = v[o.x];
        const map = indexMaps(xs, [this.shape(o.out)])[0];
        out.fill(o.fn === 'sum' ? 0 : -Infinity);
        if (o.fn === 'sum') for (let i = 0; i < src.length; i++) out[map[i]] += src[i];
        else for (let i = 0; i < src.length; i++) if (src[i] > out[map[i]]) out[map[i]] = src[i];
        return;
      }
      case 'cumsum': {
        const s = this.shape(o.x);
        const n = s[o.axis];
        const inner = sizeOf(s.slice(o.axis + 1));
        const outer = sizeOf(s.slice(0, o.axis));
        const src = v[o.x];
        for (let a = 0; a < outer; a++) {
          for (let c = 0; c < inner; c++) {
            let sum = 0;
            for (let k = 0; k < n; k++) {
              const kk = o.reverse ? n - 1 - k : k;
              const at = (a * n + kk) * inner + c;
              if (o.exclusive) {
                out[at] = sum;
                sum += src[at];
              } else {
                sum += src[at];
                out[at] = sum;
              }
            }
          }
        }
        return;
      }
      case 'softmax': {
        const s = this.shape(o.x);
        const n = s[s.length - 1];
        const src = v[o.x];
        for (let r = 0; r < src.length; r += n) {
          let m = -Infinity;
          for (let k = 0; k < n; k++) m = Math.max(m, src[r + k]);
          let sum = 0;
          for (let k = 0; k < n; k++) sum += out[r + k] = Math.exp(src[r + k] - m);
          for (let k = 0; k < n; k++) out[r + k] /= sum;
        }
        return;
      }
      case 'slice':
      case 'pad': {
        // Both copy a block between a big and a small buffer at offset `begin`.
        const big = o.op === 'slice' ? this.shape(o.x) : this.shape(o.out);
        const small = o.op === 'slice' ? this.shape(o.out) : this.shape(o.x);
        const map = blockMap(big, small, o.begin);
        const src = v[o.x];
        if (o.op === 'slice') for (let i = 0; i < out.length; i++) out[i] = src[map[i]];
        else {
          out.fill(0);
          for (let i = 0; i < src.length; i++) out[map[i]] = src[i];
        }
        return;
      }
      case 'concat': {
        const s = this.shape(o.out);
        let at = 0;
        for (const x of o.xs) {
          const xs = this.shape(x);
          const map = blockMap(
            s,
            xs,
            s.map((_, d) => (d === o.axis ? at : 0)),
          );
          const src = v[x];
          for (let i = 0; i < src.length; i++) out[map[i]] = src[i];
          at += xs[o.axis];
        }
        return;
      }
      case 'reshape':
        v[o.out] = v[o.x];
        return;
      case 'transpose': {
        const s = this.shape(o.x);
        const strides = stridesOf(s);
        const permuted = o.perm.map((p) => strides[p]);
        const map = walk(this.shape(o.out), permuted);
        const src = v[o.x];
        for (let i = 0; i < out.length; i++) out[i] = src[map[i]];
        return;
      }
      case 'broadcast': {
        const map = indexMaps(this.shape(o.out), [this.shape(o.x)])[0];
        const src = v[o.x];
        for (let i = 0; i < out.length; i++) out[i] = src[map[i]];
        return;
      }
    }
  }

  /** Calls f(i, j) per output element with operand offsets, fast for equal shapes and scalars. */
  private broadcast3(out: number, [a, b]: number[], f: (ia: Int32Array | null, ib: Int32Array | null) => void): void {
    const s = this.shape(out);
    const [sa, sb] = [this.shape(a), this.shape(b)];
    const n = sizeOf(s);
    const direct = (x: number[]) => sizeOf(x) === n;
    const scalar = (x: number[]) => sizeOf(x) === 1;
    const maps = indexMaps(s, [sa, sb], (x) => direct(x) || scalar(x));
    f(direct(sa) ? null : scalar(sa) ? ZERO : maps[0], direct(sb) ? null : scalar(sb) ? ZERO : maps[1]);
  }

  private matmul(o: Extract<Op, { op: 'matmul' }>): void {
    const [sa, sb, so] = [this.shape(o.a), this.shape(o.b), this.shape(o.out)];
    const [A, B, C] = [this.vals[o.a], this.vals[o.b], this.vals[o.out]];
    const M = so[so.length - 2];
    const N = so[so.length - 1];
    const K = o.transA ? sa[sa.length - 2] : sa[sa.length - 1];
    const batches = sizeOf(so.slice(0, -2));
    const outerA = sa.slice(0, -2);
    const outerB = sb.slice(0, -2);
    const [mapA, mapB] = indexMaps(so.slice(0, -2), [outerA, outerB]);
    // Element strides: A(m, k) = A[m·am + k·ak], B(k, n) = B[k·bk + n·bn].
    const [am, ak] = o.transA ? [1, M] : [K, 1];
    const [bk, bn] = o.transB ? [1, K] : [N, 1];
    for (let q = 0; q < batches; q++) {
      const offA = (batches === 1 ? 0 : mapA[q]) * M * K;
      const offB = (batches === 1 ? 0 : mapB[q]) * K * N;
      const offC = q * M * N;
      C.fill(0, offC, offC + M * N);
      for (let m = 0; m < M; m++) {
        const row = offC + m * N;
        for (let k = 0; k < K; k++) {
          const x = A[offA + m * am + k * ak];
          if (x === 0) continue;
          const base = offB + k * bk;
          if (bn === 1) for (let n = 0; n < N; n++) C[row + n] += x * B[base + n];
          else for (let n = 0; n < N; n++) C[row + n] += x * B[base + n * bn];
        }
      }
    }
  }
}

const ZERO = new Int32Array(0);

function unary(fn: UnaryFn, x: Float32Array, out: Float32Array): void {
  const n = x.length;
  switch (fn) {
    case 'neg':
      for (let i = 0; i < n; i++) out[i] = -x[i];
      return;
    case 'exp':
      for (let i = 0; i < n; i++) out[i] = Math.exp(x[i]);
      return;
    case 'log':
      for (let i = 0; i < n; i++) out[i] = Math.log(x[i]);
      return;
    case 'sqrt':
      for (let i = 0; i < n; i++) out[i] = Math.sqrt(x[i]);
      return;
    case 'rsqrt':
      for (let i = 0; i < n; i++) out[i] = 1 / Math.sqrt(x[i]);
      return;
    case 'sigmoid':
      for (let i = 0; i < n; i++) out[i] = 1 / (1 + Math.exp(-x[i]));
      return;
    case 'tanh':
      for (let i = 0; i < n; i++) out[i] = Math.tanh(x[i]);
      return;
    case 'relu':
      for (let i = 0; i < n; i++) out[i] = x[i] > 0 ? x[i] : 0;
      return;
    case 'abs':
      for (let i = 0; i < n; i++) out[i] = Math.abs(x[i]);
      return;
    case 'square':
      for (let i = 0; i < n; i++) out[i] = x[i] * x[i];
      return;
    case 'reciprocal':
      for (let i = 0; i < n; i++) out[i] = 1 / x[i];
      return;
    case 'sign':
      for (let i = 0; i < n; i++) out[i] = Math.sign(x[i]);
      return;
    case 'step':
      for (let i = 0; i < n; i++) out[i] = x[i] > 0 ? 1 : 0;
      return;
  }
}

const BIN: Record<BinaryFn, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  max: (a, b) => (a >= b ? a : b),
  min: (a, b) => (a <= b ? a : b),
  pow: (a, b) => Math.pow(a, b),
  greater: (a, b) => +(a > b),
  greaterEqual: (a, b) => +(a >= b),
  less: (a, b) => +(a < b),
  lessEqual: (a, b) => +(a <= b),
  equal: (a, b) => +(a === b),
  notEqual: (a, b) => +(a !== b),
};

function binary(fn: BinaryFn, a: Float32Array, b: Float32Array, out: Float32Array, ia: Int32Array | null, ib: Int32Array | null): void {
  const n = out.length;
  if (!ia && !ib && fn === 'add') for (let i = 0; i < n; i++) out[i] = a[i] + b[i];
  else if (!ia && !ib && fn === 'mul') for (let i = 0; i < n; i++) out[i] = a[i] * b[i];
  else if (!ia && !ib && fn === 'sub') for (let i = 0; i < n; i++) out[i] = a[i] - b[i];
  else {
    const f = BIN[fn];
    for (let i = 0; i < n; i++) out[i] = f(a[ia ? (ia.length ? ia[i] : 0) : i], b[ib ? (ib.length ? ib[i] : 0) : i]);
  }
}

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** For each element of `shape` in order, the offset Σ index·strides. */
function walk(shape: readonly number[], strides: readonly number[]): Int32Array {
  const n = sizeOf(shape);
  const out = new Int32Array(n);
  const idx = new Array<number>(shape.length).fill(0);
  let off = 0;
  for (let i = 0; i < n; i++) {
    out[i] = off;
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d]++;
      off += strides[d];
      if (idx[d] < shape[d]) break;
      off -= strides[d] * shape[d];
      idx[d] = 0;
    }
  }
  return out;
}

const mapCache = new Map<string, Int32Array>();

/** Offsets into each operand (broadcast to `shape`) for every element of `shape`; memoised. */
function indexMaps(shape: readonly number[], operands: number[][], skip?: (s: number[]) => boolean): Int32Array[] {
  return operands.map((s) => {
    if (skip?.(s)) return ZERO;
    const key = `b${shape}|${s}`;
    let m = mapCache.get(key);
    if (!m) {
      const st = stridesOf(s);
      const lead = shape.length - s.length;
      m = walk(
        shape,
        shape.map((_, d) => (d < lead || s[d - lead] === 1 ? 0 : st[d - lead])),
      );
      mapCache.set(key, m);
    }
    return m;
  });
}

/** Offsets into `big` of each element of the block `small` placed at `begin`. */
function blockMap(big: number[], small: number[], begin: number[]): Int32Array {
  const key = `k${big}|${small}|${begin}`;
  let m = mapCache.get(key);
  if (!m) {
    const st = stridesOf(big);
    const base = begin.reduce((a, v, d) => a + v * st[d], 0);
    m = walk(small, st).map((o) => o + base);
    mapCache.set(key, m);
  }
  return m;
}
