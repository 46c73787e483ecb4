import type { BufferInfo, Op } from '../trace/ir.js';
import { opInputs } from '../trace/ir.js';
import { broadcastIndex, type Place } from './wgsl-emit.js';

/** dst[i] (+)= src[i] for i < n (`src` undefined: zeros): a step's results copied out of its temps. */
export interface Copy {
  dst: Place;
  src?: number;
  n: number;
  accumulate?: boolean;
}

/** One unit of a step: an IR op or a copy. */
export type Item = { op: Op } | { copy: Copy };

/** Ops that write out[i] from the thread that owns i in the grid-strided loops; the others (tiles, rows) do not. */
const OWNS_INDEX = new Set<Op['op']>(['fill', 'unary', 'binary', 'select', 'broadcast', 'reduce', 'slice', 'pad', 'concat', 'transpose']);
const ELEMENTWISE = new Set<Op['op']>(['fill', 'unary', 'binary', 'select', 'broadcast']);

/** What an item reads, and whether element i of its output reads element i of that buffer. */
function reads(item: Item, buffers: BufferInfo[]): { id: number; same: boolean }[] {
  if ('copy' in item) return item.copy.src === undefined ? [] : [{ id: item.copy.src, same: true }];
  const o = item.op;
  const out = buffers[o.out].shape;
  return opInputs(o).map((id) => ({ id, same: ELEMENTWISE.has(o.op) && broadcastIndex(out, buffers[id].shape, 'i') === 'i' }));
}

/**
 * A step's items split into phases: every phase needs a global barrier before it (a new
 * dispatch, or a storage barrier where one workgroup runs everything). An item joins the
 * phase of what it reads when it reads it at its own index from an op that wrote it at that
 * index (the same thread wrote it); otherwise it goes one phase later. ASAP levels, so the
 * count is the longest chain of such reads (an LSTM step: its product, then the gate math).
 * SSA buffers make the reordering safe; items keep their order within a phase.
 */
export function phases(items: Item[], buffers: BufferInfo[]): Item[][] {
  const level = new Map<number, number>();
  const owns = new Map<number, boolean>();
  const out: Item[][] = [];
  for (const item of items) {
    let lv = 0;
    for (const { id, same } of reads(item, buffers)) {
      const l = level.get(id);
      if (l !== undefined) lv = Math.max(lv, same && owns.get(id) ? l : l + 1);
    }
    if ('op' in item) {
      const o = item.op;
      if (o.op === 'literal') continue;
      if (o.op === 'reshape') {
        // An alias: it carries its operand's phase and ownership.
        if (level.has(o.x)) {
          level.set(o.out, level.get(o.x)!);
          owns.set(o.out, owns.get(o.x)!);
        }
        continue;
      }
      level.set(o.out, lv);
      owns.set(o.out, OWNS_INDEX.has(o.op));
    }
    while (out.length <= lv) out.push([]);
    out[lv].push(item);
  }
  return out;
}
