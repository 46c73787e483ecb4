import { stridesOf } from './interpret.js';
import { opInputs, sizeOf, type BinaryFn, type BufferInfo, type Op, type UnaryFn } from './ir.js';

/** Record layout shared with kernel/trace.c. */
export const OP_WORDS = 32;
const CODE = { UNARY: 1, BINARY: 2, SELECT: 3, MATMUL: 4, REDUCE: 5, CUMSUM: 6, SOFTMAX: 7, COPY: 8, ZERO: 9, TRANSPOSE2: 10, FUSED: 11 } as const;
/** kernel/trace.c's TILE and MAX_FUSED. */
const TILE = 64;
/** Steps per chunk of the pre and post sections (kernel/trace.c): their products run over this many steps' rows at once. */
export const CHUNK = 32;
const MAX_FUSED = 48;
const UNARY: UnaryFn[] = ['neg', 'exp', 'log', 'sqrt', 'rsqrt', 'sigmoid', 'tanh', 'relu', 'abs', 'square', 'reciprocal', 'sign', 'step'];
/** kernel/trace.c's IDENTITY: a slice or a concat's piece moved inside a fused run. */
const IDENTITY = UNARY.length;
const BINARY: BinaryFn[] = ['add', 'sub', 'mul', 'div', 'max', 'min', 'pow', 'greater', 'greaterEqual', 'less', 'lessEqual', 'equal', 'notEqual'];

/**
 * A program lowered for kernel/trace.c: every op becomes fixed-size int records over
 * buffer slots with rank-4 loop bounds and element strides; reshapes alias their operand's
 * slot; fills and literals become constant slots written once per call; a transposed
 * right operand of a product gets a slot of its own (cs_matmul reads B row-major).
 */
export interface Lowered {
  /** IR buffer id → slot. */
  slotOf: number[];
  slots: number;
  /** Slots written by ops (scratch, float counts). */
  temps: Array<{ slot: number; size: number }>;
  consts: Array<{ slot: number; values: Float32Array }>;
  /**
   * Transposed parameters and constants (`of`, an IR id, [rows, cols]) that products read: the
   * same every step, so transposed once per call into `slot` rather than in every step's code.
   */
  transposed: Array<{ slot: number; of: number; rows: number; cols: number }>;
  /**
   * Of the ids asked to accumulate, those whose product adds into its output buffer (no other op
   * reads it): the time loop binds that buffer to its running sum instead of adding a copy each step.
   */
  accumulated: Set<number>;
  /**
   * Products moved out of the per-step code into kernel/trace.c's chunk sections, run once per CHUNK
   * steps over all their rows: `pre` (before the chunk's first step: a product of a value given for
   * every step, such as the input projection) and `post` (after its last: a parameter gradient Σₜ aₜᵀgₜ
   * as one product with the steps' rows stacked along K, or a result the caller stores for every step).
   */
  pre: Int32Array;
  post: Int32Array;
  /** Slots written per step that a section reads or writes: each holds CHUNK steps (kernel/trace.c's mod). */
  chunkStores: Array<{ slot: number; size: number }>;
  /** Of the ids asked to be stored (`stackResults`), those a post product writes for all steps: bind them to the caller's store. */
  stacked: Set<number>;
  code: Int32Array;
}

const pad4 = (a: number[], fill: number) => [...Array<number>(4 - a.length).fill(fill), ...a];

/** Strides of `shape` read as `out`'s broadcast operand, aligned to out's dims (0 where broadcast). */
function broadcastStrides(shape: number[], out: number[]): number[] {
  const st = stridesOf(shape);
  const lead = out.length - shape.length;
  return out.map((_, d) => (d < lead || shape[d - lead] === 1 ? 0 : st[d - lead]));
}

/**
 * Merge neighbouring loop dims that every operand walks contiguously (stride[k] = stride[k+1]·d[k+1])
 * and drop size-1 dims, so that e.g. a [B, n] elementwise op is one run of B·n elements for the
 * interpreter's vector loops rather than B runs of n. Returns the rank-4 bounds and strides.
 */
function collapse(d: number[], strides: number[][]): [number[], number[][]] {
  const keep = d.flatMap((n, k) => (n === 1 ? [] : [k]));
  const dims: number[] = [];
  const st: number[][] = strides.map(() => []);
  for (const k of keep) {
    const last = dims.length - 1;
    if (last >= 0 && strides.every((s, j) => st[j][last] === s[k] * d[k])) {
      dims[last] *= d[k];
      strides.forEach((s, j) => (st[j][last] = s[k]));
    } else {
      dims.push(d[k]);
      strides.forEach((s, j) => st[j].push(s[k]));
    }
  }
  return [pad4(dims, 1), st.map((s) => pad4(s, 0))];
}

/** A strided copy record: dst[dOff + Σ idx·sd] = src[sOff + Σ idx·ss] over the bounds d. */
function copy(dst: number, src: number, dOff: number, sOff: number, d: number[], sd: number[], ss: number[]): number[] {
  const [dims, [cd, cs]] = collapse(d, [sd, ss]);
  return [CODE.COPY, 0, dst, src, dOff, sOff, ...dims, ...cd, ...cs];
}

/** An elementwise op as a candidate for a fused run: its plain record, and how it reads each operand. */
interface Elementwise {
  record: number[];
  /** Index in the program's ops. */
  at: number;
  out: number;
  n: number;
  kind: number;
  fn: number;
  /**
   * Operand ids with their access: element i reads (i / Q) mod P, or with W a block of W columns of
   * rows Q apart from column P (a slice read in place); undefined: not fusable.
   */
  srcs?: Array<{ id: number; Q: number; P: number; W?: number }>;
  /** Stored as a block of W columns of rows `ld` apart from column `off` of `out` (a concat's piece). */
  dst?: { W: number; ld: number; off: number };
}

/** How an operand of shape `x` broadcast to `out` is read by flat index, as (i / Q) mod P; undefined when not of that form. */
function period(x: number[], out: number[]): { Q: number; P: number } | undefined {
  const st = broadcastStrides(x, out);
  let Q = 1;
  for (let d = out.length - 1; d >= 0 && st[d] === 0; d--) Q *= out[d];
  const P = sizeOf(x);
  const N = sizeOf(out);
  for (let i = 0; i < N; i++) {
    let rest = i;
    let at = 0;
    for (let d = out.length - 1; d >= 0; d--) {
      at += (rest % out[d]) * st[d];
      rest = Math.floor(rest / out[d]);
    }
    if (at !== Math.floor(i / Q) % P) return undefined;
  }
  return { Q, P };
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * Group consecutive elementwise ops over the same element count into FUSED runs (kernel/trace.c
 * evaluates a run tile by tile); a value is written to its buffer only when something after the
 * run reads it (`lastRead` by slot, Infinity for the time loop's results). Lone ops keep their records.
 */
function fuse(entries: Array<number[] | Elementwise>, slotOf: number[], lastRead: Map<number, number>): number[][] {
  const out: number[][] = [];
  let run: Elementwise[] = [];
  let g = 0;
  const flush = () => {
    if (run.length === 1) out.push(run[0].record);
    else if (run.length > 1) {
      const end = run[run.length - 1].at;
      const index = new Map(run.map((e, k) => [slotOf[e.out], k]));
      out.push([CODE.FUSED, run.length, run[0].n, tileOf(g)]);
      for (const e of run) {
        const slot = slotOf[e.out];
        const store = e.dst || (lastRead.get(slot) ?? -1) > end ? 1 : 0;
        const record = [e.kind, e.fn, slot, store, e.srcs!.length, ...e.srcs!.flatMap(({ id, Q, P, W = 0 }) => [W ? -1 : (index.get(slotOf[id]) ?? -1), slotOf[id], Q, P, W])];
        if (e.dst) record.push(...Array<number>(20 - record.length).fill(0), e.dst.W, e.dst.ld, e.dst.off);
        out.push(record);
      }
    }
    run = [];
    g = 0;
  };
  const tileOf = (n: number) => {
    for (let t = Math.min(TILE, n); t > 1; t--) if (n % t === 0) return t;
    return 1;
  };
  for (const e of entries) {
    if (Array.isArray(e) || !e.srcs) {
      flush();
      out.push(Array.isArray(e) ? e : e.record);
      continue;
    }
    if (run.length && (run[0].n !== e.n || run.length === MAX_FUSED)) flush();
    const inRun = (id: number) => run.some((r) => slotOf[r.out] === slotOf[id]);
    // A value of the run read other than element for element must come from its buffer: start a new run.
    if (e.srcs.some(({ id, Q, P, W }) => inRun(id) && (W || !(Q === 1 && P === e.n)))) flush();
    // The tile divides every broadcast period and block width.
    const unit = ({ Q, P, W }: { Q: number; P: number; W?: number }) => W || (P === 1 ? e.n : Q > 1 ? Q : P);
    let next = gcd(g || e.n, e.dst?.W ?? e.n);
    for (const src of e.srcs) if (!inRun(src.id)) next = gcd(next, unit(src));
    if (tileOf(next) < 4 && run.length) {
      flush();
      next = gcd(e.n, e.dst?.W ?? e.n);
      for (const src of e.srcs) next = gcd(next, unit(src));
    }
    if (tileOf(next) < 4) {
      out.push(e.record);
      continue;
    }
    run.push(e);
    g = next;
  }
  flush();
  return out;
}

/**
 * Lower a program, or the reason it does not fit the compiled interpreter (the JS one runs it then).
 * `given`: buffers bound for every step before the call, each step's value after the previous one's
 * (inputs; in the adjoint also the kept states and saved values): products of them may run per chunk.
 * `stackResults`: results the caller stores for every step, which a post product may write in place.
 */
export function lower(
  buffers: BufferInfo[],
  ops: Op[],
  results?: number[],
  accumulate: number[] = [],
  { given = new Set<number>(), stackResults = [] }: { given?: Set<number>; stackResults?: number[] } = {},
): Lowered | string {
  if (buffers.some((b) => b.shape.length > 4)) return 'a value of rank > 4';
  const slotOf = buffers.map((_, i) => i);
  // The last op reading each slot (reshapes alias their operand's); the time loop's results: always.
  const alias = buffers.map((_, i) => i);
  for (const o of ops) if (o.op === 'reshape') alias[o.out] = alias[o.x];
  const lastRead = new Map<number, number>();
  ops.forEach((o, k) => opInputs(o).forEach((id) => lastRead.set(alias[id], k)));
  for (const id of results ?? buffers.keys()) lastRead.set(alias[id], Infinity);
  const read = new Set(ops.flatMap((o) => opInputs(o).map((id) => alias[id])));
  // A slot that sums one gradient only (two gradients on one buffer keep their copies).
  const once = accumulate.map((id) => alias[id]).filter((slot, i, all) => all.indexOf(slot) === all.lastIndexOf(slot));
  const sums = new Set(once.filter((slot) => !read.has(slot)));
  const accumulated = new Set<number>();
  const entries: Array<number[] | Elementwise> = [];
  const pre: number[][] = [];
  const post: number[][] = [];
  const chunked = new Set<number>();
  const stacked = new Set<number>();
  // Written per step by an op (a chunk store can hold it), not a fixed or caller-bound buffer.
  const written = new Set(ops.filter((o) => o.op !== 'fill' && o.op !== 'literal').map((o) => o.out));
  const perStep = (slot: number) => given.has(slot) || (written.has(slot) && buffers[slot].role === 'temp' && !sums.has(slot));
  let slots = buffers.length;
  const temps: Lowered['temps'] = [];
  const consts: Lowered['consts'] = [];
  const transposed: Lowered['transposed'] = [];
  const records = { push: (r: number[]) => entries.push(r) };
  const shape = (id: number) => buffers[id].shape;
  const s = (id: number) => slotOf[id];
  const elementwise = (at: number, record: number[], srcIds: number[]) => {
    const so = shape(ops[at].out);
    const srcs = srcIds.map((id) => ({ id, ...period(shape(id), so) }));
    const ok = srcs.every((x) => x.Q !== undefined);
    entries.push({ record, at, out: ops[at].out, n: sizeOf(so), kind: record[0], fn: record[1], ...(ok ? { srcs: srcs as Array<{ id: number; Q: number; P: number }> } : {}) });
  };
  for (const [at, o] of ops.entries()) {
    const out = o.out;
    const so = shape(out);
    if (o.op === 'reshape') {
      slotOf[out] = slotOf[o.x];
      continue;
    }
    if (o.op === 'fill' || o.op === 'literal') {
      consts.push({ slot: s(out), values: o.op === 'fill' ? new Float32Array(sizeOf(so)).fill(o.value) : Float32Array.from(o.values) });
      continue;
    }
    temps.push({ slot: s(out), size: sizeOf(so) });
    const d4 = pad4(so, 1);
    const bs = (id: number) => pad4(broadcastStrides(shape(id), so), 0);
    switch (o.op) {
      case 'unary':
        elementwise(at, [CODE.UNARY, UNARY.indexOf(o.fn), s(out), s(o.x), sizeOf(so)], [o.x]);
        break;
      case 'binary': {
        const [d, [sa, sb]] = collapse(d4, [bs(o.a), bs(o.b)]);
        elementwise(at, [CODE.BINARY, BINARY.indexOf(o.fn), s(out), s(o.a), s(o.b), ...d, ...sa, ...sb], [o.a, o.b]);
        break;
      }
      case 'select': {
        const [d, [sc, sa, sb]] = collapse(d4, [bs(o.cond), bs(o.a), bs(o.b)]);
        elementwise(at, [CODE.SELECT, 0, s(out), s(o.cond), s(o.a), s(o.b), ...d, ...sc, ...sa, ...sb], [o.cond, o.a, o.b]);
        break;
      }
      case 'matmul': {
        const [sa, sb] = [shape(o.a), shape(o.b)];
        const M = so[so.length - 2];
        const N = so[so.length - 1];
        const K = o.transA ? sa[sa.length - 2] : sa[sa.length - 1];
        const batch = sizeOf(so.slice(0, -2));
        const [batchA, batchB] = [sizeOf(sa.slice(0, -2)), sizeOf(sb.slice(0, -2))];
        if ((batchA !== 1 && batchA !== batch) || (batchB !== 1 && batchB !== batch)) return 'a product whose batch dims broadcast partly';
        let b = s(o.b);
        const role = buffers[o.b].role;
        const fixed = transposed.find((t) => t.of === o.b);
        // A few rows against a right operand that changes every step (NRU's g·dirsᵀ per batch row): dot products along K, no transposed copy.
        const nt = o.transB && !o.transA && !fixed && M <= 4 && !(batchB === 1 && (role === 'param' || role === 'constant'));
        if (o.transB && !nt && fixed) b = fixed.slot;
        else if (o.transB && batchB === 1 && (role === 'param' || role === 'constant')) {
          b = slots++;
          transposed.push({ slot: b, of: o.b, rows: N, cols: K });
        } else if (o.transB && !nt) {
          b = slots++;
          temps.push({ slot: b, size: sizeOf(sb) });
          records.push([CODE.TRANSPOSE2, 0, b, s(o.b), batchB, N, K]);
        }
        const [rowStride, kStride] = o.transA ? [1, M] : [K, 1];
        const sum = sums.has(s(out));
        for (const id of accumulate) if (sum && alias[id] === s(out)) accumulated.add(id);
        // Word 14: how a chunk section stacks the steps' rows (set below); 15: B read as [N, K] (kernel/trace.c's matmul_nt).
        const record = [CODE.MATMUL, 0, s(out), s(o.a), b, batch, M, N, K, rowStride, kStride, batchA === 1 ? 0 : M * K, batchB === 1 ? 0 : K * N, +sum, 0, +nt];
        const stack = (k: number) => record.map((w, i) => (i === 14 ? k : w));
        // The same every step: a parameter or constant, or its copy transposed once per call (not one transposed per step).
        const fixedB = transposed.some((t) => t.slot === b) || (!o.transB && (role === 'param' || role === 'constant'));
        const [slotA, slotB] = [s(o.a), s(o.b)];
        // Read after the step by a post section, so a fused run must store it.
        const keep = (slot: number) => (given.has(slot) ? undefined : (chunked.add(slot), lastRead.set(slot, Infinity)));
        if (batch === 1 && !o.transA && fixedB && given.has(slotA) && !sum) {
          // A product of a value given for every step with a fixed one: per chunk, before its first step.
          chunked.add(s(out));
          pre.push(stack(1));
        } else if (sum && batch === 1 && o.transA && !o.transB && perStep(slotA) && perStep(slotB)) {
          // A parameter gradient Σₜ aₜᵀgₜ: one product per chunk with the steps' rows stacked along K.
          keep(slotA);
          keep(slotB);
          post.push(stack(2));
        } else if (batch === 1 && !o.transA && fixedB && perStep(slotA) && stackResults.includes(out) && !read.has(alias[out]) && !sum) {
          // A result stored for every step (e.g. dL/dx = g·Wᵀ): per chunk, into the caller's store.
          keep(slotA);
          stacked.add(out);
          post.push(stack(1));
        } else records.push(record);
        break;
      }
      case 'reduce': {
        const xs = shape(o.x);
        records.push([CODE.REDUCE, o.fn === 'max' ? 1 : 0, s(out), s(o.x), sizeOf(so), ...pad4(xs, 1), ...pad4(broadcastStrides(so, xs), 0)]);
        break;
      }
      case 'cumsum':
        records.push([CODE.CUMSUM, 0, s(out), s(o.x), sizeOf(so.slice(0, o.axis)), so[o.axis], sizeOf(so.slice(o.axis + 1)), +o.exclusive, +o.reverse]);
        break;
      case 'softmax':
        records.push([CODE.SOFTMAX, 0, s(out), s(o.x), sizeOf(so.slice(0, -1)), so[so.length - 1]]);
        break;
      case 'slice': {
        const sx = shape(o.x);
        const st = stridesOf(sx);
        const off = o.begin.reduce((a, v, d) => a + v * st[d], 0);
        const record = copy(s(out), s(o.x), 0, off, d4, pad4(stridesOf(so), 0), pad4(st, 0));
        // A block of columns: readable in place by a fused run.
        const last = so.length - 1;
        if (so.every((n, d) => d === last || (n === sx[d] && o.begin[d] === 0)))
          entries.push({ record, at, out, n: sizeOf(so), kind: CODE.UNARY, fn: IDENTITY, srcs: [{ id: o.x, Q: sx[last], P: o.begin[last], W: so[last] }] });
        else records.push(record);
        break;
      }
      case 'pad': {
        const st = stridesOf(so);
        const off = o.begin.reduce((a, v, d) => a + v * st[d], 0);
        records.push([CODE.ZERO, 0, s(out), sizeOf(so)]);
        records.push(copy(s(out), s(o.x), off, 0, pad4(shape(o.x), 1), pad4(st, 0), pad4(stridesOf(shape(o.x)), 0)));
        break;
      }
      case 'concat': {
        const st = stridesOf(so);
        let from = 0;
        const last = o.axis === so.length - 1;
        for (const x of o.xs) {
          const record = copy(s(out), s(x), from * st[o.axis], 0, pad4(shape(x), 1), pad4(st, 0), pad4(stridesOf(shape(x)), 0));
          const w = shape(x)[o.axis];
          // Along the last axis: each piece a block of columns, which a fused run may write in place.
          if (last) entries.push({ record, at, out, n: sizeOf(shape(x)), kind: CODE.UNARY, fn: IDENTITY, srcs: [{ id: x, Q: 1, P: sizeOf(shape(x)) }], dst: { W: w, ld: so[o.axis], off: from } });
          else records.push(record);
          from += w;
        }
        break;
      }
      case 'transpose': {
        const st = stridesOf(shape(o.x));
        records.push(copy(s(out), s(o.x), 0, 0, d4, pad4(stridesOf(so), 0), pad4(o.perm.map((p) => st[p]), 0)));
        break;
      }
      case 'broadcast':
        records.push(copy(s(out), s(o.x), 0, 0, d4, pad4(stridesOf(so), 0), bs(o.x)));
        break;
    }
  }
  const fused = fuse(entries, slotOf, lastRead);
  const pack = (rs: number[][]) => {
    const code = new Int32Array(rs.length * OP_WORDS);
    rs.forEach((r, i) => code.set(r, i * OP_WORDS));
    return code;
  };
  const chunkStores = temps.filter((t) => chunked.has(t.slot));
  return { slotOf, slots, temps: temps.filter((t) => !chunked.has(t.slot) && !stacked.has(t.slot)), consts, transposed, accumulated, pre: pack(pre), post: pack(post), chunkStores, stacked, code: pack(fused) };
}
