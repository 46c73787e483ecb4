import type { BinaryFn, BufferInfo, BufferRole, Op, UnaryFn } from './ir.js';

/** Thrown where a step cannot become a program; the message is the one-line reason. */
export class TraceAbort extends Error {}

export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new TraceAbort(`shapes [${a}] and [${b}] do not broadcast`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * Appends ops with shape inference; shared by the tracer and the autodiff so both write
 * well-formed programs. Every method returns the id of the buffer it writes.
 */
export class Builder {
  readonly buffers: BufferInfo[] = [];
  readonly ops: Op[] = [];

  shape(id: number): number[] {
    return this.buffers[id].shape;
  }

  buffer(shape: readonly number[], role: BufferRole, name: string): number {
    this.buffers.push({ shape: [...shape], role, name });
    return this.buffers.length - 1;
  }

  private push(op: DistributiveOmit<Op, 'out'>, shape: readonly number[]): number {
    const out = this.buffer(shape, 'temp', `t${this.buffers.length}`);
    this.ops.push({ ...op, out } as Op);
    return out;
  }

  fill(shape: readonly number[], value: number): number {
    return this.push({ op: 'fill', value }, shape);
  }

  literal(shape: readonly number[], values: ArrayLike<number>): number {
    const first = values[0];
    if (Array.prototype.every.call(values, (v: number) => v === first)) return this.fill(shape, first);
    return this.push({ op: 'literal', values: Array.from(values) }, shape);
  }

  unary(fn: UnaryFn, x: number, alpha?: number): number {
    return this.push(alpha === undefined ? { op: 'unary', fn, x } : { op: 'unary', fn, x, alpha }, this.shape(x));
  }

  binary(fn: BinaryFn, a: number, b: number): number {
    return this.push({ op: 'binary', fn, a, b }, broadcastShape(this.shape(a), this.shape(b)));
  }

  scalar(fn: BinaryFn, a: number, value: number): number {
    return this.binary(fn, a, this.fill([], value));
  }

  select(cond: number, a: number, b: number): number {
    const shape = broadcastShape(broadcastShape(this.shape(cond), this.shape(a)), this.shape(b));
    return this.push({ op: 'select', cond, a, b }, shape);
  }

  matmul(a: number, b: number, transA = false, transB = false): number {
    const [sa, sb] = [this.shape(a), this.shape(b)];
    if (sa.length < 2 || sb.length < 2) throw new TraceAbort(`matMul needs rank ≥ 2 (got [${sa}]·[${sb}])`);
    const [M, K] = transA ? [sa[sa.length - 1], sa[sa.length - 2]] : [sa[sa.length - 2], sa[sa.length - 1]];
    const [K2, N] = transB ? [sb[sb.length - 1], sb[sb.length - 2]] : [sb[sb.length - 2], sb[sb.length - 1]];
    if (K !== K2) throw new TraceAbort(`matMul inner sizes differ ([${sa}]·[${sb}])`);
    const outer = broadcastShape(sa.slice(0, -2), sb.slice(0, -2));
    return this.push({ op: 'matmul', a, b, transA, transB }, [...outer, M, N]);
  }

  reduce(fn: 'sum' | 'max', x: number, axes: number[]): number {
    const shape = this.shape(x).map((d, i) => (axes.includes(i) ? 1 : d));
    return this.push({ op: 'reduce', fn, x, axes: [...axes].sort() }, shape);
  }

  cumsum(x: number, axis: number, exclusive: boolean, reverse: boolean): number {
    return this.push({ op: 'cumsum', x, axis, exclusive, reverse }, this.shape(x));
  }

  softmax(x: number): number {
    return this.push({ op: 'softmax', x }, this.shape(x));
  }

  slice(x: number, begin: number[], size: number[]): number {
    if (sameShape(size, this.shape(x))) return x;
    return this.push({ op: 'slice', x, begin }, size);
  }

  pad(x: number, begin: number[], shape: number[]): number {
    if (sameShape(shape, this.shape(x))) return x;
    return this.push({ op: 'pad', x, begin }, shape);
  }

  concat(xs: number[], axis: number): number {
    if (xs.length === 1) return xs[0];
    const shape = [...this.shape(xs[0])];
    shape[axis] = xs.reduce((s, x) => s + this.shape(x)[axis], 0);
    return this.push({ op: 'concat', xs, axis }, shape);
  }

  reshape(x: number, shape: number[]): number {
    if (sameShape(shape, this.shape(x))) return x;
    return this.push({ op: 'reshape', x }, shape);
  }

  transpose(x: number, perm: number[]): number {
    if (perm.every((p, i) => p === i)) return x;
    const s = this.shape(x);
    return this.push(
      { op: 'transpose', x, perm },
      perm.map((p) => s[p]),
    );
  }

  broadcast(x: number, shape: number[]): number {
    if (sameShape(shape, this.shape(x))) return x;
    return this.push({ op: 'broadcast', x }, shape);
  }

  /** Sum x down to `shape` (x's shape broadcast from it). */
  sumTo(x: number, shape: number[]): number {
    if (sameShape(shape, this.shape(x))) return x;
    const s = this.shape(x);
    // A sum over leading dims only is a sum over rows of a 2-D view: keep it a plain reduce when possible.
    const lead = s.length - shape.length;
    const axes = s.map((_, i) => i).filter((i) => i < lead || (shape[i - lead] === 1 && s[i] !== 1));
    return this.reshape(this.reduce('sum', x, axes), shape);
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
