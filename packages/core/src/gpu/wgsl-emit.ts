import type { BinaryFn, BufferInfo, Op, UnaryFn } from '../trace/ir.js';
import { opInputs, sizeOf } from '../trace/ir.js';
import { stridesOf } from '../trace/interpret.js';
import { WGSL_ACTIVATIONS } from '../gpu-program.js';

/**
 * IR ops → WGSL statements for a program run by one workgroup of `NT` threads (`tid` its
 * thread): each op is a loop over its output elements strided by NT, then a storage
 * barrier, so the next op sees every element. Shapes are static, so every index is
 * arithmetic on constants. The semantics are interpret.ts's (the reference).
 */

/** Where a buffer lives: a storage array and the WGSL expression of its first element's index (may use `t`). */
export interface Place {
  arr: string;
  base: string;
}

/** The WGSL helpers the emitted statements call. */
export const WGSL_IR_HELPERS = `${WGSL_ACTIVATIONS}
fn b2f(c : bool) -> f32 { return select(0.0, 1.0, c); }
fn powf(a : f32, b : f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  if (a >= 0.0) { return pow(a, b); }
  if (b != round(b)) { return uniforms.NAN; }
  let r = pow(-a, b);
  return select(r, -r, fract(b * 0.5) != 0.0);
}
`;

/** A WGSL f32 expression for a number (Infinity and NaN through tf's uniforms). */
export function f32(v: number): string {
  if (Number.isNaN(v)) return 'uniforms.NAN';
  if (!Number.isFinite(v)) return v > 0 ? 'uniforms.INFINITY' : '-uniforms.INFINITY';
  return `f32(${Math.fround(v).toExponential()})`;
}

const UNARY: Record<UnaryFn, (x: string) => string> = {
  neg: (x) => `-(${x})`,
  exp: (x) => `exp(${x})`,
  log: (x) => `log(${x})`,
  sqrt: (x) => `sqrt(${x})`,
  rsqrt: (x) => `inverseSqrt(${x})`,
  sigmoid: (x) => `sigm(${x})`,
  tanh: (x) => `tanhs(${x})`,
  relu: (x) => `max(${x}, 0.0)`,
  abs: (x) => `abs(${x})`,
  square: (x) => `(${x}) * (${x})`,
  reciprocal: (x) => `1.0 / (${x})`,
  sign: (x) => `sign(${x})`,
  step: (x) => `b2f((${x}) > 0.0)`,
};

const BINARY: Record<BinaryFn, (a: string, b: string) => string> = {
  add: (a, b) => `${a} + ${b}`,
  sub: (a, b) => `${a} - ${b}`,
  mul: (a, b) => `${a} * ${b}`,
  div: (a, b) => `${a} / ${b}`,
  max: (a, b) => `select(${b}, ${a}, ${a} >= ${b})`,
  min: (a, b) => `select(${b}, ${a}, ${a} <= ${b})`,
  pow: (a, b) => `powf(${a}, ${b})`,
  greater: (a, b) => `b2f(${a} > ${b})`,
  greaterEqual: (a, b) => `b2f(${a} >= ${b})`,
  less: (a, b) => `b2f(${a} < ${b})`,
  lessEqual: (a, b) => `b2f(${a} <= ${b})`,
  equal: (a, b) => `b2f(${a} == ${b})`,
  notEqual: (a, b) => `b2f(${a} != ${b})`,
};

/** Coordinate d of flat index `i` in `shape` (row-major). */
function coord(shape: readonly number[], d: number, i: string): string {
  const stride = sizeOf(shape.slice(d + 1));
  const div = stride === 1 ? i : `(${i} / ${stride})`;
  return d === 0 ? div : `(${div} % ${shape[d]})`;
}

/** Σ terms, simplified. */
const sum = (terms: string[]): string => (terms.length ? terms.join(' + ') : '0');

/** Index into an operand of shape `s` broadcast (numpy rules) to `out`, for flat output index `i`. */
export function broadcastIndex(out: readonly number[], s: readonly number[], i: string): string {
  if (sizeOf(s) === 1) return '0';
  const lead = out.length - s.length;
  if (sizeOf(s) === sizeOf(out) && s.every((v, d) => v === out[d + lead])) return i;
  const st = stridesOf(s);
  const terms: string[] = [];
  for (let d = lead; d < out.length; d++) {
    if (s[d - lead] === 1) continue;
    const c = coord(out, d, i);
    terms.push(st[d - lead] === 1 ? c : `${c} * ${st[d - lead]}`);
  }
  return `(${sum(terms)})`;
}

export class WgslEmitter {
  private readonly lines: string[] = [];

  constructor(
    private readonly buffers: BufferInfo[],
    private readonly at: (id: number) => Place,
  ) {}

  private shape(id: number): number[] {
    return this.buffers[id].shape;
  }

  /** The element at index expression `idx` of buffer `id`. */
  ref(id: number, idx: string): string {
    const p = this.at(id);
    return `${p.arr}[${p.base} + ${idx}]`;
  }

  /** Append raw WGSL. */
  raw(code: string): void {
    this.lines.push(code);
  }

  /** for every element i < n (strided over the workgroup): body. */
  each(n: number, body: string): void {
    this.lines.push(`for (var i = tid; i < ${n}; i += NT) { ${body} }`);
  }

  barrier(): void {
    this.lines.push('storageBarrier();');
  }

  /** dst[i] (+)= src[i] for n elements; `src` undefined: zeros. */
  copy(dst: Place, src: Place | undefined, n: number, accumulate = false): void {
    const to = `${dst.arr}[${dst.base} + i]`;
    const from = src ? `${src.arr}[${src.base} + i]` : '0.0';
    this.each(n, accumulate ? `${to} = ${to} + ${from};` : `${to} = ${from};`);
  }

  code(): string {
    return this.lines.join('\n');
  }

  /**
   * A list of ops. Runs of elementwise ops over the same number of elements share one loop
   * and one barrier while each reads what the run wrote only at its own index (the thread
   * that wrote it): the barrier count per step drops to about the number of products,
   * reductions and reshuffles.
   */
  ops(list: Op[]): void {
    let run: { n: number; code: string[]; written: Set<number> } | undefined;
    const flush = () => {
      if (!run) return;
      this.each(run.n, run.code.join(' '));
      this.barrier();
      run = undefined;
    };
    for (const o of list) {
      if (o.op === 'literal') continue;
      if (o.op === 'reshape') {
        if (run?.written.has(o.x)) run.written.add(o.out);
        continue;
      }
      const e = this.elementwise(o);
      if (!e) {
        flush();
        this.op(o);
        continue;
      }
      const out = this.shape(o.out);
      const inRun = (id: number) => run?.written.has(id) && broadcastIndex(out, this.shape(id), 'i') !== 'i';
      if (run && (run.n !== sizeOf(out) || opInputs(o).some(inRun))) flush();
      run ??= { n: sizeOf(out), code: [], written: new Set() };
      run.code.push(`{ ${e} }`);
      run.written.add(o.out);
    }
    flush();
  }

  /** The per-element statement of an elementwise op (element i), or undefined for other ops. */
  private elementwise(o: Op): string | undefined {
    const out = this.shape(o.out);
    const w = (expr: string) => `${this.ref(o.out, 'i')} = ${expr};`;
    const operand = (id: number) => this.ref(id, broadcastIndex(out, this.shape(id), 'i'));
    switch (o.op) {
      case 'fill':
        return w(f32(o.value));
      case 'unary':
        return w(UNARY[o.fn](this.ref(o.x, 'i')));
      case 'binary':
        return `let a = ${operand(o.a)}; let b = ${operand(o.b)}; ${w(BINARY[o.fn]('a', 'b'))}`;
      case 'select':
        return w(`select(${operand(o.b)}, ${operand(o.a)}, ${operand(o.cond)} != 0.0)`);
      case 'broadcast':
        return w(operand(o.x));
      default:
        return undefined;
    }
  }

  /** One op's statements followed by a barrier; `reshape` (an alias) and `literal` (bound data) emit nothing. */
  private op(o: Op): void {
    if (o.op === 'reshape' || o.op === 'literal') return;
    const out = this.shape(o.out);
    const n = sizeOf(out);
    const w = (expr: string) => `${this.ref(o.out, 'i')} = ${expr};`;
    const e = this.elementwise(o);
    if (e) {
      this.each(n, e);
      this.barrier();
      return;
    }
    switch (o.op) {
      case 'matmul':
        this.matmul(o);
        break;
      case 'reduce':
        this.reduce(o);
        break;
      case 'cumsum':
        this.cumsum(o);
        break;
      case 'softmax': {
        const k = out[out.length - 1];
        const x = (j: string) => this.ref(o.x, `r + ${j}`);
        const y = (j: string) => this.ref(o.out, `r + ${j}`);
        this.each(
          n / k,
          `let r = i * ${k}; var m = -uniforms.INFINITY; for (var j = 0; j < ${k}; j++) { m = max(m, ${x('j')}); }
  var s = 0.0; for (var j = 0; j < ${k}; j++) { let e = exp(${x('j')} - m); ${y('j')} = e; s += e; }
  for (var j = 0; j < ${k}; j++) { ${y('j')} = ${y('j')} / s; }`,
        );
        break;
      }
      case 'slice': {
        const st = stridesOf(this.shape(o.x));
        const base = o.begin.reduce((a, v, d) => a + v * st[d], 0);
        this.each(n, w(this.ref(o.x, `${base} + ${sum(out.map((_, d) => `${coord(out, d, 'i')} * ${st[d]}`))}`)));
        break;
      }
      case 'pad': {
        // Each output coordinate minus begin must fall inside x; else zero.
        const xs = this.shape(o.x);
        const st = stridesOf(xs);
        const cs = out.map((_, d) => `let c${d} = ${coord(out, d, 'i')} - ${o.begin[d]};`).join(' ');
        const inside = xs.map((s, d) => `c${d} >= 0 && c${d} < ${s}`).join(' && ');
        this.each(n, `${cs} var v = 0.0; if (${inside}) { v = ${this.ref(o.x, sum(xs.map((_, d) => `c${d} * ${st[d]}`)))}; } ${w('v')}`);
        break;
      }
      case 'concat': {
        // Per element: find its piece along the axis, then index that piece.
        const cs = out.map((_, d) => `let c${d} = ${coord(out, d, 'i')};`).join(' ');
        let at = 0;
        const branches = o.xs.map((x) => {
          const xs = this.shape(x);
          const st = stridesOf(xs);
          const idx = sum(xs.map((_, d) => (d === o.axis ? `(c${d} - ${at}) * ${st[d]}` : `c${d} * ${st[d]}`)));
          at += xs[o.axis];
          return `if (c${o.axis} < ${at}) { ${w(this.ref(x, idx))} }`;
        });
        this.each(n, `${cs} ${branches.join(' else ')}`);
        break;
      }
      case 'transpose': {
        const st = stridesOf(this.shape(o.x));
        this.each(n, w(this.ref(o.x, sum(out.map((_, d) => `${coord(out, d, 'i')} * ${st[o.perm[d]]}`)))));
        break;
      }
    }
    this.barrier();
  }

  private matmul(o: Extract<Op, { op: 'matmul' }>): void {
    const [sa, sb, so] = [this.shape(o.a), this.shape(o.b), this.shape(o.out)];
    const M = so[so.length - 2];
    const N = so[so.length - 1];
    const K = o.transA ? sa[sa.length - 2] : sa[sa.length - 1];
    const outer = so.slice(0, -2);
    // Element strides: A(m, k) = A[m·am + k·ak], B(k, n) = B[k·bk + n·bn].
    const [am, ak] = o.transA ? [1, M] : [K, 1];
    const [bk, bn] = o.transB ? [1, K] : [N, 1];
    const offA = `${broadcastIndex(outer, sa.slice(0, -2), 'q')} * ${M * K}`;
    const offB = `${broadcastIndex(outer, sb.slice(0, -2), 'q')} * ${K * N}`;
    const a = this.ref(o.a, `oa + m * ${am} + k * ${ak}`);
    const b = this.ref(o.b, `ob + k * ${bk} + n * ${bn}`);
    this.each(
      sizeOf(so),
      `let n = i % ${N}; let m = (i / ${N}) % ${M}; let q = i / ${M * N}; let oa = ${offA}; let ob = ${offB};
  var s = 0.0; for (var k = 0; k < ${K}; k++) { s += ${a} * ${b}; } ${this.ref(o.out, 'i')} = s;`,
    );
  }

  private reduce(o: Extract<Op, { op: 'reduce' }>): void {
    const xs = this.shape(o.x);
    const out = this.shape(o.out);
    const st = stridesOf(xs);
    const kept = xs.map((_, d) => d).filter((d) => !o.axes.includes(d));
    const red = o.axes.slice().sort((p, q) => p - q);
    const rshape = red.map((d) => xs[d]);
    const base = sum(kept.map((d) => `${coord(out, d, 'i')} * ${st[d]}`));
    const inner = sum(red.map((d, j) => `${coord(rshape, j, 'r')} * ${st[d]}`));
    const init = o.fn === 'sum' ? '0.0' : '-uniforms.INFINITY';
    const update = o.fn === 'sum' ? 's += v;' : 'if (v > s) { s = v; }';
    this.each(sizeOf(out), `let b0 = ${base}; var s = ${init}; for (var r = 0; r < ${sizeOf(rshape)}; r++) { let v = ${this.ref(o.x, `b0 + ${inner}`)}; ${update} } ${this.ref(o.out, 'i')} = s;`);
  }

  private cumsum(o: Extract<Op, { op: 'cumsum' }>): void {
    const s = this.shape(o.x);
    const n = s[o.axis];
    const inner = sizeOf(s.slice(o.axis + 1));
    const kk = o.reverse ? `${n - 1} - k` : 'k';
    const at = `(i / ${inner}) * ${n * inner} + (i % ${inner}) + (${kk}) * ${inner}`;
    const body = o.exclusive ? `${this.ref(o.out, 'at')} = s; s += ${this.ref(o.x, 'at')};` : `s += ${this.ref(o.x, 'at')}; ${this.ref(o.out, 'at')} = s;`;
    this.each(sizeOf(s) / n, `var s = 0.0; for (var k = 0; k < ${n}; k++) { let at = ${at}; ${body} }`);
  }
}
