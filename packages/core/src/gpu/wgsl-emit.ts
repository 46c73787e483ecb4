import type { BinaryFn, BufferInfo, Op, UnaryFn } from '../trace/ir.js';
import { sizeOf } from '../trace/ir.js';
import { stridesOf } from '../trace/interpret.js';
import { WGSL_ACTIVATIONS } from '../gpu-program.js';
import type { Item } from './wgsl-schedule.js';

/**
 * IR ops → WGSL statements for programs of NWG workgroups of NT threads (`tid` the thread in
 * its workgroup, `wg` the workgroup, `gid` = wg·NT + tid of NTOT = NWG·NT): elementwise and
 * indexing ops loop over their output elements strided by NTOT, products over output tiles
 * strided by NWG. Shapes are static, so every index is arithmetic on constants. The
 * semantics are interpret.ts's (the reference).
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

/** Threads per workgroup and workgroups of one program; the grid-strided loops and the tiles read them. */
export interface Grid {
  NT: number;
  NWG: number;
}

/**
 * Product tiles: the NT threads as a WX × WY grid, each computing a 2 × 2 block of a
 * (2·WY) × (2·WX) output tile from TK-deep slices of A and B staged in workgroup memory
 * (tfjs-backend-webgpu's matmul_packed pattern, with its strided per-thread block).
 */
export function tileOf(NT: number) {
  let WX = 1;
  while (WX * WX < NT) WX *= 2;
  const WY = NT / WX;
  return { WX, WY, TM: 2 * WY, TN: 2 * WX, TK: 16 };
}

/** Workgroups that keep every thread of a phase busy: its products' tiles, or its loops' elements over NT. */
export function workgroupsWanted(items: Item[], buffers: BufferInfo[], NT: number): number {
  const { TM, TN } = tileOf(NT);
  let most = 1;
  for (const item of items) {
    if ('copy' in item) most = Math.max(most, Math.ceil(item.copy.n / NT));
    else if (item.op.op === 'matmul') {
      const s = buffers[item.op.out].shape;
      most = Math.max(most, sizeOf(s.slice(0, -2)) * Math.ceil(s[s.length - 2] / TM) * Math.ceil(s[s.length - 1] / TN));
    } else most = Math.max(most, Math.ceil(sizeOf(buffers[item.op.out].shape) / NT));
  }
  return most;
}

export class WgslEmitter {
  private readonly lines: string[] = [];
  private tiled = false;

  constructor(
    private readonly buffers: BufferInfo[],
    private readonly at: (id: number) => Place,
    private readonly grid: Grid,
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

  /** for every element i < n, strided over all threads of all workgroups (`gid`, `NTOT`): body. */
  each(n: number, body: string): void {
    this.lines.push(`for (var i = gid; i < ${n}; i += NTOT) { ${body} }`);
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

  /** The program's statements, after the workgroup arrays its tiles use. */
  code(): string {
    return this.lines.join('\n');
  }

  /** Module-scope declarations the statements need (the product tiles' workgroup memory). */
  declarations(): string {
    if (!this.tiled) return '';
    const { TM, TN, TK } = tileOf(this.grid.NT);
    return `var<workgroup> mmA : array<f32, ${TM * TK}>;\nvar<workgroup> mmB : array<f32, ${TK * TN}>;`;
  }

  /**
   * One phase (see wgsl-schedule.ts): no barrier inside. Consecutive elementwise ops over
   * the same number of elements share one loop; within a phase every value an item reads
   * from the phase was written at its own index by its own thread.
   */
  phase(items: Item[]): void {
    let run: { n: number; code: string[] } | undefined;
    const flush = () => {
      if (run) this.each(run.n, run.code.join(' '));
      run = undefined;
    };
    for (const item of items) {
      if ('copy' in item) {
        flush();
        const c = item.copy;
        this.copy(c.dst, c.src === undefined ? undefined : this.at(c.src), c.n, c.accumulate);
        continue;
      }
      const o = item.op;
      const e = this.elementwise(o);
      if (!e) {
        flush();
        this.op(o);
        continue;
      }
      const n = sizeOf(this.shape(o.out));
      if (run && run.n !== n) flush();
      run ??= { n, code: [] };
      run.code.push(`{ ${e} }`);
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

  /** One op's statements; `reshape` (an alias) and `literal` (bound data) emit nothing. */
  private op(o: Op): void {
    if (o.op === 'reshape' || o.op === 'literal') return;
    const out = this.shape(o.out);
    const n = sizeOf(out);
    const w = (expr: string) => `${this.ref(o.out, 'i')} = ${expr};`;
    const e = this.elementwise(o);
    if (e) {
      this.each(n, e);
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
  }

  /**
   * A product; past one workgroup, tiled: workgroup wg takes tiles wg, wg + NWG, …; per tile, TK-deep slices of A
   * and B go to workgroup memory (zero past the edges) and each thread accumulates its 2 × 2
   * block. Every workgroup runs the same number of iterations, so the barriers sit in uniform
   * control flow; a tile past the last only skips its loads and stores.
   */
  private matmul(o: Extract<Op, { op: 'matmul' }>): void {
    if (this.grid.NWG === 1) return this.dotProducts(o);
    this.tiled = true;
    const { NT, NWG } = this.grid;
    const { WX, WY, TM, TN, TK } = tileOf(NT);
    const { sa, sb, M, N, K, outer, am, ak, bk, bn } = this.product(o);
    const [rows, cols] = [Math.ceil(M / TM), Math.ceil(N / TN)];
    const tiles = sizeOf(outer) * rows * cols;
    // Neighbouring threads load neighbouring elements of whichever dim is contiguous in memory.
    const load = (arr: string, R: number, C: number, contiguousRows: boolean, idx: (r: string, c: string) => string, inside: (r: string, c: string) => string) => {
      const [r, c] = contiguousRows ? [`e % ${R}`, `e / ${R}`] : [`e / ${C}`, `e % ${C}`];
      return `for (var e = tid; e < ${R * C}; e += NT) { let r = ${r}; let c = ${c}; var v = 0.0; if (live && ${inside('r', 'c')}) { v = ${idx('r', 'c')}; } ${arr}[r * ${C} + c] = v; }`;
    };
    const loadA = load('mmA', TM, TK, o.transA, (r, c) => this.ref(o.a, `oa + (m0 + ${r}) * ${am} + (k0 + ${c}) * ${ak}`), (r, c) => `m0 + ${r} < ${M} && k0 + ${c} < ${K}`);
    const loadB = load('mmB', TK, TN, o.transB, (r, c) => this.ref(o.b, `ob + (k0 + ${r}) * ${bk} + (n0 + ${c}) * ${bn}`), (r, c) => `k0 + ${r} < ${K} && n0 + ${c} < ${N}`);
    const store = (dm: string, dn: string, v: string) =>
      `{ let m = m0 + ty + ${dm}; let n = n0 + tx + ${dn}; if (live && m < ${M} && n < ${N}) { ${this.ref(o.out, `q * ${M * N} + m * ${N} + n`)} = ${v}; } }`;
    this.lines.push(`for (var it = 0; it < ${Math.ceil(tiles / NWG)}; it++) {
  let tile = wg + it * ${NWG}; let live = tile < ${tiles};
  let q = tile / ${rows * cols}; let m0 = ((tile / ${cols}) % ${rows}) * ${TM}; let n0 = (tile % ${cols}) * ${TN};
  let oa = ${broadcastIndex(outer, sa.slice(0, -2), 'q')} * ${M * K}; let ob = ${broadcastIndex(outer, sb.slice(0, -2), 'q')} * ${K * N};
  let tx = tid % ${WX}; let ty = tid / ${WX};
  var c00 = 0.0; var c01 = 0.0; var c10 = 0.0; var c11 = 0.0;
  for (var k0 = 0; k0 < ${K}; k0 += ${TK}) {
    ${loadA}
    ${loadB}
    workgroupBarrier();
    for (var k = 0; k < ${TK}; k++) {
      let a0 = mmA[ty * ${TK} + k]; let a1 = mmA[(ty + ${WY}) * ${TK} + k];
      let b0 = mmB[k * ${TN} + tx]; let b1 = mmB[k * ${TN} + tx + ${WX}];
      c00 += a0 * b0; c01 += a0 * b1; c10 += a1 * b0; c11 += a1 * b1;
    }
    workgroupBarrier();
  }
  ${store('0', '0', 'c00')} ${store('0', `${WX}`, 'c01')} ${store(`${WY}`, '0', 'c10')} ${store(`${WY}`, `${WX}`, 'c11')}
}`);
  }

  /** A product's shapes and element strides: A(m, k) = A[m·am + k·ak], B(k, n) = B[k·bk + n·bn]. */
  private product(o: Extract<Op, { op: 'matmul' }>) {
    const [sa, sb, so] = [this.shape(o.a), this.shape(o.b), this.shape(o.out)];
    const M = so[so.length - 2];
    const N = so[so.length - 1];
    const K = o.transA ? sa[sa.length - 2] : sa[sa.length - 1];
    const [am, ak] = o.transA ? [1, M] : [K, 1];
    const [bk, bn] = o.transB ? [1, K] : [N, 1];
    return { sa, sb, so, M, N, K, outer: so.slice(0, -2), am, ak, bk, bn };
  }

  /**
   * A product in a program of one workgroup (the one-workgroup layout, or a phase that fits in
   * one): each output element's dot product in a grid-strided
   * loop. Tiles would only add nested loops and workgroup barriers to an already long program,
   * and llvmpipe's JIT (LLVM 15's coroutine split) takes superlinear time in a program's size:
   * with tiles, a cold compile of GRU's or NRU's sweep programs took 2–4× longer, past vitest's
   * 120 s in CI. Small steps (≤ CELLSTACK_WGSL_ONE_WORKGROUP_MACS) gain nothing from tiles.
   */
  private dotProducts(o: Extract<Op, { op: 'matmul' }>): void {
    const { sa, sb, so, M, N, K, outer, am, ak, bk, bn } = this.product(o);
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
