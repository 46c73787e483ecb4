import { Builder } from './builder.js';
import { opInputs, type AdjointProgram, type StepProgram } from './ir.js';
import { rematerialise } from './remat.js';

/**
 * Reverse-mode AD of one step program. Walks the ops backwards, emitting for each op whose
 * result reaches the step's results the ops that push its adjoint to its operands (rules
 * below, one per op kind), summing adjoints where a value is used more than once and
 * reducing broadcast operands back to their shapes.
 *
 * Save vs recompute is decided after the rules, from the forward values the adjoint ops read:
 * see remat.ts (least memory per step first, then least recomputation; transcendentals are read
 * from their stored outputs where that costs no memory).
 */
export function differentiate(p: StepProgram): AdjointProgram {
  const b = new Builder();
  for (const buf of p.buffers) b.buffer(buf.shape, buf.role, buf.name);

  // Which values depend on something differentiable.
  const live = new Set<number>([...Object.values(p.inputs), ...Object.values(p.state), ...Object.values(p.params), ...Object.values(p.constants)]);
  for (const o of p.ops) if (o.op !== 'select' ? opInputs(o).some((i) => live.has(i)) : live.has(o.a) || live.has(o.b)) live.add(o.out);

  const adj = new Map<number, number>();
  const acc = (x: number, g: number) => {
    if (!live.has(x)) return;
    const c = b.sumTo(g, b.shape(x));
    const prev = adj.get(x);
    adj.set(x, prev === undefined ? c : b.binary('add', prev, c));
  };
  // Adjoints of slices of x, gathered until x's adjoint is read: disjoint blocks along one axis
  // (the gates of a [B, 4n] pre-activation) become one concat instead of a zero-padded copy each plus adds.
  const pieces = new Map<number, Array<{ g: number; begin: number[] }>>();
  const accSlice = (x: number, g: number, begin: number[]) => {
    if (!live.has(x)) return;
    const list = pieces.get(x) ?? [];
    list.push({ g, begin });
    pieces.set(x, list);
  };
  const adjOf = (x: number) => {
    const list = pieces.get(x);
    if (list) {
      pieces.delete(x);
      for (const part of assemble(x, list)) acc(x, part);
    }
    return adj.get(x);
  };
  const assemble = (x: number, list: Array<{ g: number; begin: number[] }>): number[] => {
    const s = b.shape(x);
    const axes = new Set(list.flatMap(({ g }) => b.shape(g).flatMap((n, d) => (n === s[d] ? [] : [d]))));
    const axis = [...axes][0];
    const sorted = [...list].sort((p, q) => p.begin[axis] - q.begin[axis]);
    const disjoint = sorted.every(({ begin }, i) => i === 0 || begin[axis] >= sorted[i - 1].begin[axis] + b.shape(sorted[i - 1].g)[axis]);
    if (axes.size !== 1 || list.length < 2 || !disjoint) return list.map(({ g, begin }) => b.pad(g, begin, s));
    const parts: number[] = [];
    let at = 0;
    const gap = (to: number) => {
      if (to > at) parts.push(b.fill(s.map((n, d) => (d === axis ? to - at : n)), 0));
    };
    for (const { g, begin } of sorted) {
      gap(begin[axis]);
      parts.push(g);
      at = begin[axis] + b.shape(g)[axis];
    }
    gap(s[axis]);
    return [b.concat(parts, axis)];
  };
  const seedOutput = b.buffer(b.shape(p.output), 'seed', 'd(output)');
  acc(p.output, seedOutput);
  const seedState: Record<string, number> = {};
  for (const [k, id] of Object.entries(p.nextState)) {
    seedState[k] = b.buffer(b.shape(id), 'seed', `d(state.${k})`);
    acc(id, seedState[k]);
  }

  const lastAxis = (x: number) => b.shape(x).length - 1;
  for (let i = p.ops.length - 1; i >= 0; i--) {
    const o = p.ops[i];
    const g = adjOf(o.out);
    if (g === undefined) continue;
    const y = o.out;
    switch (o.op) {
      case 'fill':
      case 'literal':
        break;
      case 'unary': {
        const x = o.x;
        const m = (v: number) => acc(x, b.binary('mul', g, v));
        if (o.fn === 'neg') acc(x, b.unary('neg', g));
        else if (o.fn === 'exp') m(y);
        else if (o.fn === 'log') acc(x, b.binary('div', g, x));
        else if (o.fn === 'sqrt') acc(x, b.binary('div', g, b.scalar('mul', y, 2)));
        else if (o.fn === 'rsqrt') m(b.scalar('mul', b.binary('mul', y, b.unary('square', y)), -0.5));
        else if (o.fn === 'sigmoid') m(b.binary('mul', y, b.binary('sub', b.fill([], 1), y)));
        else if (o.fn === 'tanh') m(b.binary('sub', b.fill([], 1), b.unary('square', y)));
        else if (o.fn === 'relu') m(b.unary('step', x));
        else if (o.fn === 'abs') m(b.unary('sign', x));
        else if (o.fn === 'square') m(b.scalar('mul', x, 2));
        else if (o.fn === 'reciprocal') m(b.unary('neg', b.unary('square', y)));
        // sign and step: zero almost everywhere.
        break;
      }
      case 'binary': {
        const { a, b: c } = o;
        if (o.fn === 'add') {
          acc(a, g);
          acc(c, g);
        } else if (o.fn === 'sub') {
          acc(a, g);
          if (live.has(c)) acc(c, b.unary('neg', g));
        } else if (o.fn === 'mul') {
          if (live.has(a)) acc(a, b.binary('mul', g, c));
          if (live.has(c)) acc(c, b.binary('mul', g, a));
        } else if (o.fn === 'div') {
          const ga = b.binary('div', g, c);
          acc(a, ga);
          if (live.has(c)) acc(c, b.unary('neg', b.binary('mul', ga, y)));
        } else if (o.fn === 'max' || o.fn === 'min') {
          // tfjs's rule: ties go to a.
          const toA = b.binary(o.fn === 'max' ? 'greaterEqual' : 'lessEqual', a, c);
          if (live.has(a)) acc(a, b.binary('mul', g, toA));
          if (live.has(c)) acc(c, b.binary('mul', g, b.binary('sub', b.fill([], 1), toA)));
        } else if (o.fn === 'pow') {
          if (live.has(a)) acc(a, b.binary('mul', g, b.binary('mul', c, b.binary('pow', a, b.scalar('sub', c, 1)))));
          if (live.has(c)) {
            const pos = b.binary('greater', a, b.fill([], 0));
            const logA = b.select(pos, b.unary('log', b.binary('max', a, b.fill([], 1e-30))), b.fill([], 0));
            acc(c, b.binary('mul', g, b.binary('mul', y, logA)));
          }
        }
        // Comparisons: no gradient.
        break;
      }
      case 'select': {
        const zero = b.fill([], 0);
        if (live.has(o.a)) acc(o.a, b.select(o.cond, g, zero));
        if (live.has(o.b)) acc(o.b, b.select(o.cond, zero, g));
        break;
      }
      case 'matmul': {
        const { a, b: c, transA, transB } = o;
        if (live.has(a)) acc(a, transA ? b.matmul(c, g, transB, true) : b.matmul(g, c, false, !transB));
        if (live.has(c)) acc(c, transB ? b.matmul(g, a, true, transA) : b.matmul(a, g, !transA, false));
        break;
      }
      case 'reduce': {
        const gx = b.broadcast(g, b.shape(o.x));
        if (o.fn === 'sum') acc(o.x, gx);
        else acc(o.x, b.binary('mul', gx, b.binary('equal', o.x, b.broadcast(y, b.shape(o.x)))));
        break;
      }
      case 'cumsum':
        acc(o.x, b.cumsum(g, o.axis, o.exclusive, !o.reverse));
        break;
      case 'softmax': {
        const dot = b.reduce('sum', b.binary('mul', g, y), [lastAxis(y)]);
        acc(o.x, b.binary('mul', y, b.binary('sub', g, dot)));
        break;
      }
      case 'slice':
        accSlice(o.x, g, o.begin);
        break;
      case 'pad':
        acc(o.x, b.slice(g, o.begin, b.shape(o.x)));
        break;
      case 'concat': {
        let at = 0;
        const s = b.shape(y);
        for (const x of o.xs) {
          const begin = s.map((_, d) => (d === o.axis ? at : 0));
          at += b.shape(x)[o.axis];
          if (live.has(x)) acc(x, b.slice(g, begin, b.shape(x)));
        }
        break;
      }
      case 'reshape':
        acc(o.x, b.reshape(g, b.shape(o.x)));
        break;
      case 'transpose': {
        const inv = o.perm.map((_, i) => o.perm.indexOf(i));
        acc(o.x, b.transpose(g, inv));
        break;
      }
      case 'broadcast':
        acc(o.x, g);
        break;
    }
  }

  const grads = (m: Record<string, number>) => {
    const out: Record<string, number> = {};
    for (const [k, id] of Object.entries(m)) {
      const g = adjOf(id);
      // A gradient that is a forward value itself (e.g. the seed passed through) is still bound by name.
      if (g !== undefined) out[k] = g;
    }
    return out;
  };
  const gradInputs = grads(p.inputs);
  const gradState = grads(p.state);
  const gradParams = grads(p.params);
  const gradConstants = grads(p.constants);
  // Save vs recompute (remat.ts): the forward values the adjoint reads, each stored per step or recomputed.
  const adjointOps = b.ops;
  const results = [gradInputs, gradState, gradParams, gradConstants].flatMap((r) => Object.values(r));
  const { saved, recompute } = rematerialise(p, [...adjointOps.flatMap(opInputs), ...results]);
  return {
    buffers: b.buffers,
    ops: [...recompute, ...adjointOps],
    inputs: p.inputs,
    state: p.state,
    params: p.params,
    constants: p.constants,
    saved,
    seedOutput,
    seedState,
    gradInputs,
    gradState,
    gradParams,
    gradConstants,
  };
}
