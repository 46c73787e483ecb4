import { opInputs, type Op, type ProgramRoles } from './ir.js';

/**
 * Blocks of batch rows on separate threads (the addon's traceParts). A step program run on rows
 * [r0, r0 + n) alone computes exactly those rows of every per-row value when no op mixes batch
 * rows, and its parameter gradients are then that block's share of a sum over rows. This checks
 * it from the step traced twice, at the full batch B and at n rows: the same ops, every buffer
 * either the same shape in both (`fixed`: parameters, their functions; or `partial`: a sum over
 * the block's rows, linear in them) or scaled along its first dim by n / B (`row`: c rows per batch
 * row, row-major, so a block of batch rows is one contiguous block), and each op keeping rows apart.
 */
export type RowClass = 'row' | 'fixed' | 'partial';

/** A step and its adjoint, as traced.ts keeps them. */
interface Pair {
  forward: ProgramRoles & { output: number; nextState: Record<string, number> };
  adjoint: ProgramRoles & { saved: number[]; gradInputs: Record<string, number>; gradState: Record<string, number>; gradParams: Record<string, number>; gradConstants: Record<string, number> };
}

/** Why the step traced at n rows cannot run as a block of the batch of B rows, or undefined when it can. */
export function rowBlockReason(full: Pair, part: Pair, B: number, n: number): string | undefined {
  const fwd = classes(full.forward, part.forward, B, n);
  if (typeof fwd === 'string') return fwd;
  const bwd = classes(full.adjoint, part.adjoint, B, n);
  if (typeof bwd === 'string') return bwd;
  const { forward: P, adjoint: A } = part;
  const rowsOnly = (ids: number[], cls: RowClass[], what: string) => (ids.some((id) => cls[id] !== 'row') ? `${what} is not one row per batch row` : undefined);
  return (
    rowsOnly([P.output, ...Object.values(P.nextState)], fwd, 'a step result') ??
    (A.saved.some((id) => fwd[id] === 'partial') ? 'a saved value sums over batch rows' : undefined) ??
    rowsOnly([...Object.values(A.gradInputs), ...Object.values(A.gradState)], bwd, 'an input or state gradient') ??
    (Object.values(A.gradParams).some((id) => bwd[id] !== 'partial') ? 'a parameter gradient does not sum over batch rows' : undefined) ??
    (Object.entries(A.gradConstants).some(([k, id]) => bwd[id] !== (bwd[A.constants[k]] === 'row' ? 'row' : 'partial')) ? 'a constant gradient mixes batch rows' : undefined)
  );
}

/** Each buffer's class, or why the two programs are not one program at two batch sizes. */
function classes(full: ProgramRoles, part: ProgramRoles, B: number, n: number): RowClass[] | string {
  if (full.buffers.length !== part.buffers.length || JSON.stringify(full.ops) !== JSON.stringify(part.ops)) return 'the step records other ops at another batch size';
  const shape = part.buffers.map((b) => b.shape);
  const cls: RowClass[] = [];
  const rowShaped = (id: number) => {
    const [f, p] = [full.buffers[id].shape, shape[id]];
    if (f.length === p.length && f.every((d, i) => d === p[i])) return false;
    if (f.length !== p.length || f.length === 0 || f[0] * n !== p[0] * B || f.some((d, i) => i > 0 && d !== p[i])) return undefined;
    return true;
  };
  const written = new Set(part.ops.map((o) => o.out));
  for (let id = 0; id < shape.length; id++) {
    const r = rowShaped(id);
    if (r === undefined) return `${part.buffers[id].name} [${shape[id]}] is not scaled along its first dim by the batch`;
    if (!written.has(id)) cls[id] = r ? 'row' : 'fixed';
  }
  for (const o of part.ops) {
    const why = classify(o, cls, shape, !!rowShaped(o.out));
    if (why) return `${part.buffers[o.out].name}: ${why}`;
  }
  return cls;
}

/** Sets the class of o.out from its operands', or says how the op mixes batch rows. */
function classify(o: Op, cls: RowClass[], shape: number[][], row: boolean): string | undefined {
  const ins = opInputs(o);
  const of = ins.map((id) => cls[id]);
  const out = shape[o.out];
  if (of.every((c) => c === 'fixed')) {
    cls[o.out] = row ? 'row' : 'fixed'; // a fill or a broadcast parameter may be per row
    return undefined;
  }
  if (row) {
    cls[o.out] = 'row';
    if (of.includes('partial')) return 'a per-row value reads a sum over batch rows';
    // Every per-row operand lines up with the output row for row (no broadcast along the batch).
    const aligned = (id: number) => cls[id] !== 'row' || (shape[id].length === out.length && shape[id][0] === out[0]);
    switch (o.op) {
      case 'matmul':
        if (out.length === 2) return cls[o.a] === 'row' && !o.transA && cls[o.b] === 'fixed' ? undefined : 'a product over batch rows';
        return aligned(o.a) && aligned(o.b) ? undefined : 'a product over batch rows';
      case 'reshape':
        return undefined;
      case 'cumsum':
        if (o.axis === 0) return 'a cumulative sum along the batch';
        break;
      case 'softmax':
        if (out.length < 2) return 'a softmax along the batch';
        break;
      case 'concat':
        if (o.axis === 0) return 'a concatenation along the batch';
        break;
      case 'transpose':
        if (o.perm[0] !== 0) return 'a transpose that moves the batch';
        break;
    }
    return ins.every(aligned) ? undefined : 'an operand broadcast along the batch';
  }
  // Not per row, from per-row or partial operands: a sum over the block's rows, kept linear in them.
  cls[o.out] = 'partial';
  const rowed = (id: number) => cls[id] === 'row';
  const partial = (id: number) => cls[id] === 'partial';
  const fixed = (id: number) => cls[id] === 'fixed';
  switch (o.op) {
    case 'reduce':
      return o.fn === 'sum' && (partial(o.x) || o.axes.includes(0)) ? undefined : 'a maximum over batch rows';
    case 'matmul':
      if (rowed(o.a) && rowed(o.b) && o.transA && !o.transB && out.length === 2) return undefined;
      return (partial(o.a) && fixed(o.b)) || (fixed(o.a) && partial(o.b)) ? undefined : 'a product over batch rows';
    case 'unary':
      return o.fn === 'neg' && partial(o.x) ? undefined : `${o.fn} of a sum over batch rows`;
    case 'binary':
      if (o.fn === 'add' || o.fn === 'sub') return partial(o.a) && partial(o.b) ? undefined : `${o.fn} of a sum over batch rows and another value`;
      if (o.fn === 'mul') return (partial(o.a) && fixed(o.b)) || (fixed(o.a) && partial(o.b)) ? undefined : 'a product of sums over batch rows';
      if (o.fn === 'div') return partial(o.a) && fixed(o.b) ? undefined : 'a division by a sum over batch rows';
      return `${o.fn} of a sum over batch rows`;
    case 'reshape':
    case 'slice':
    case 'pad':
    case 'transpose':
    case 'broadcast':
      return partial(o.x) ? undefined : 'a move of batch rows';
    case 'concat':
      return o.xs.every(partial) ? undefined : 'a concatenation of a sum over batch rows and another value';
    default:
      return `${o.op} over batch rows`;
  }
}
