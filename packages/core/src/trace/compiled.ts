import { checkInterrupt } from '../interrupt.js';
import { loadKernel, type WasmKernel } from '../kernel.js';
import { nativeTrace, nativeTraceParts } from '../native.js';
import { takeArray } from '../accel/array-pool.js';
import { countProduct } from '../products.js';
import { sizeOf, type AdjointProgram, type StepProgram } from './ir.js';
import { CHUNK, OP_WORDS, type Lowered } from './lower.js';

const url = new URL('../../kernel/trace.wasm', import.meta.url);
const kernel = (): WasmKernel => loadKernel(url);

/** Names of the values a traced layer passes, in the op's input order. */
export interface Names {
  inputs: string[];
  state: string[];
  params: string[];
  constants: string[];
}

/** One call of kernel/trace.c's trace_run: slot addresses and per-step strides, copies after each step. */
class Call {
  readonly ptr: number[] = [];
  readonly stride: number[] = [];
  readonly mod: number[] = [];
  readonly copies: number[] = [];

  constructor(
    private readonly k: WasmKernel,
    private readonly low: Lowered,
  ) {
    for (const { slot, size } of low.temps) this.bind(slot, k.scratch(size));
    for (const { slot, size } of low.chunkStores) this.bind(slot, k.scratch(CHUNK * size), size, CHUNK);
    for (const { slot, values } of low.consts) this.bind(slot, k.put(values));
  }

  /** Slot at step t: ptr + 4·stride·t bytes, or with `mod` ptr + 4·stride·(t mod mod) (a store for one chunk). */
  bind(slot: number, ptr: number, stride = 0, mod = 0): void {
    this.ptr[slot] = ptr;
    this.stride[slot] = stride;
    this.mod[slot] = mod;
  }

  /** A slot outside the program (a sequence store, an accumulator) for copies to target. */
  extra(ptr: number, stride = 0): number {
    const slot = Math.max(this.low.slots, this.ptr.length);
    this.bind(slot, ptr, stride);
    return slot;
  }

  /** After each step: dst (+)= the buffer `src` (an IR id; undefined: zeros). */
  copy(src: number | undefined, dst: number, n: number, accumulate = false): void {
    this.copies.push(src === undefined ? -1 : this.low.slotOf[src], dst, n, +accumulate);
  }

  /** The call's code (buffer table, ops, copies) in the module's memory; returns its address. */
  code(): number {
    const n = this.slotCount();
    const { code: ops, pre, post } = this.low;
    const head = [n, ops.length / OP_WORDS, this.copies.length / 4, pre.length / OP_WORDS, post.length / OP_WORDS, CHUNK];
    const table: number[] = [];
    for (let i = 0; i < n; i++) table.push(this.ptr[i] ?? 0, this.stride[i] ?? 0, this.mod[i] ?? 0);
    const code = new Int32Array(head.length + table.length + ops.length + pre.length + post.length + this.copies.length);
    let at = 0;
    for (const part of [head, table, ops, pre, post, this.copies]) {
      code.set(part, at);
      at += part.length;
    }
    return this.k.putInts(code);
  }

  slotCount(): number {
    return Math.max(this.low.slots, this.ptr.length);
  }
}

/**
 * Run the calls (one per block of batch rows) over the same steps: on the addon, its products on
 * its threads — several blocks side by side, one a thread (traceParts) —, else in the module.
 */
function runCalls(k: WasmKernel, calls: Call[], steps: number, t0: number, dt: number): void {
  const codes = calls.map((c) => c.code());
  const host = nativeTrace();
  if (!host) {
    calls.forEach((c, i) => k.call('trace_run', codes[i], k.scratch(c.slotCount()), steps, t0, dt));
    return;
  }
  checkInterrupt();
  if (codes.length === 1) countProduct(host(k.buffer, codes[0], steps, t0, dt));
  else countProduct(nativeTraceParts()!.run(k.buffer, k.putInts(Int32Array.from(codes)), codes.length, steps, t0, dt));
}

/** A block of batch rows and the programs traced for that many rows (split.ts: the same ops as the whole batch's). */
export interface RowBlock {
  rows: number;
  P: StepProgram;
  A: AdjointProgram;
  fwd: Lowered;
  bwd: Lowered;
}

/** Rows [r0, r0 + n) of each of the T steps of x ([T·B, w], time-major) into the module's memory as [T·n, w]. */
function putRows(k: WasmKernel, x: Float32Array, T: number, B: number, w: number, r0: number, n: number): number {
  if (n === B) return k.put(x);
  const ptr = k.scratch(T * n * w);
  const to = k.view(ptr, T * n * w);
  for (let t = 0; t < T; t++) to.set(x.subarray((t * B + r0) * w, (t * B + r0 + n) * w), t * n * w);
  return ptr;
}

/** The inverse: [T·n, w] from `from` into rows [r0, r0 + n) of each step of out ([T·B, w]). */
function setRows(out: Float32Array, from: Float32Array, T: number, B: number, w: number, r0: number, n: number): void {
  for (let t = 0; t < T; t++) out.set(from.subarray(t * n * w, (t + 1) * n * w), (t * B + r0) * w);
}

/**
 * The compiled time loops: the forward program over t = 0 … T−1 in one call and the
 * adjoint over t = T−1 … 0 in another, everything in the module's memory (copied in and
 * out once per call, as the hand-written kernels do). With several blocks of batch rows, each
 * block's data lies in memory of its own (its rows of every step together) and its programs run
 * side by side; parameter gradients are summed over the blocks.
 */
export function compiledSpec(blocks: RowBlock[], names: Names, B: number, T: number) {
  const { P, A } = blocks[0];
  const widths = names.inputs.map((k) => P.buffers[P.inputs[k]].shape[1]);
  const stateWidths = names.state.map((k) => P.buffers[P.state[k]].shape[1]);
  const O = P.buffers[P.output].shape[1];
  // A saved value that is a next state is read from the kept states (step t + 1), not stored again.
  const fromState = A.saved.map((id) => names.state.findIndex((n) => P.nextState[n] === id));
  const nI = names.inputs.length;
  const nS = names.state.length;
  const nP = names.params.length;
  const firstRows = blocks.map((_, i) => blocks.slice(0, i).reduce((a, b) => a + b.rows, 0));
  // A constant with a block of rows per batch row (a dropout mask): each block reads, and sums a gradient into, its own rows.
  // (split.ts: its first dim scaled with the rows, so the first block's program holds fewer elements than the whole batch's.)
  const rowConstant = (i: number, x: Float32Array) => sizeOf(P.buffers[P.constants[names.constants[i]]].shape) !== x.length;
  const constantRows = (i: number, r0: number, n: number, x: Float32Array) => (rowConstant(i, x) ? x.subarray((r0 * x.length) / B, ((r0 + n) * x.length) / B) : x);
  // Parameters and fixed constants (and their transposed copies) once for all blocks.
  const bindShared = (calls: Call[], k: WasmKernel, adjoint: boolean, xs: Float32Array[]) => {
    const progs = blocks.map((b) => (adjoint ? b.A : b.P));
    const lows = blocks.map((b) => (adjoint ? b.bwd : b.fwd));
    const ptrs = new Map<number, number>();
    const fixedPtr = (key: number, make: () => Float32Array) => ptrs.get(key) ?? (ptrs.set(key, k.put(make())), ptrs.get(key)!);
    calls.forEach((call, b) => {
      const { rows: n } = blocks[b];
      const prog = progs[b];
      names.inputs.forEach((name, i) => call.bind(prog.inputs[name], putRows(k, xs[i], T, B, widths[i], firstRows[b], n), n * widths[i]));
      const data = new Map<number, Float32Array>();
      names.params.forEach((name, i) => {
        data.set(prog.params[name], xs[nI + nS + i]);
        call.bind(prog.params[name], fixedPtr(prog.params[name], () => xs[nI + nS + i]));
      });
      names.constants.forEach((name, i) => {
        const x = xs[nI + nS + nP + i];
        data.set(prog.constants[name], x);
        call.bind(prog.constants[name], rowConstant(i, x) ? k.put(constantRows(i, firstRows[b], n, x)) : fixedPtr(prog.constants[name], () => x));
      });
      for (const { slot, of, rows, cols } of lows[b].transposed) call.bind(slot, fixedPtr(-1 - of, () => transpose(data.get(of)!, rows, cols)));
    });
  };
  return {
    forward(xs: Float32Array[]) {
      const k = kernel();
      k.reset();
      const calls = blocks.map((b) => new Call(k, b.fwd));
      bindShared(calls, k, false, xs);
      // An output that is a state (h in most cells) is read from the kept states.
      const outState = names.state.findIndex((n) => P.nextState[n] === P.output);
      const ptrs = blocks.map((block, b) => {
        const { rows: n, fwd, P: Pb, A: Ab } = block;
        const call = calls[b];
        // A value the loop stores every step is written there by its op where it has a scratch slot of its own, else copied after the step.
        const own = new Set(fwd.temps.map((t) => t.slot));
        const store = (id: number, ptr: number, size: number) => {
          const slot = fwd.slotOf[id];
          if (own.delete(slot)) call.bind(slot, ptr, size);
          else call.copy(id, call.extra(ptr, size), size);
        };
        const states = names.state.map((name, i) => {
          const size = stateWidths[i] * n;
          const ptr = k.scratch((T + 1) * size);
          k.write(ptr, xs[nI + i].subarray(firstRows[b] * stateWidths[i], firstRows[b] * stateWidths[i] + size));
          call.bind(Pb.state[name], ptr, size);
          store(Pb.nextState[name], ptr + 4 * size, size);
          return ptr;
        });
        const out = outState < 0 ? k.scratch(T * n * O) : 0;
        if (outState < 0) store(Pb.output, out, n * O);
        const saved = Ab.saved.flatMap((id, i) => {
          if (fromState[i] >= 0) return [];
          const size = sizeOf(Pb.buffers[id].shape);
          const ptr = k.scratch(T * size);
          store(id, ptr, size);
          return [{ ptr, size }];
        });
        return { states, out, saved };
      });
      runCalls(k, calls, T, 0, 1);
      // Per block, every step's states (t = 0 … T), then its saved values: the backward pass's input, one flat
      // list so that fusedCall hands the arrays back to the pool after the backward pass.
      const kept = ptrs.flatMap(({ states, saved }, b) => [
        ...states.map((ptr, i) => k.read(ptr, (T + 1) * blocks[b].rows * stateWidths[i])),
        ...saved.map(({ ptr, size }) => k.read(ptr, T * size)),
      ]);
      const perBlock = kept.length / blocks.length;
      const keptState = (b: number, i: number) => kept[b * perBlock + i];
      if (blocks.length === 1) {
        const finals = stateWidths.map((w, i) => keptState(0, i).slice(T * B * w));
        return { outputs: [outState < 0 ? k.read(ptrs[0].out, T * B * O) : keptState(0, outState).slice(B * O), ...finals], saved: kept };
      }
      // Pooled arrays (fusedCall hands them back): every row of them is written below.
      const output = takeArray(T * B * O);
      const finals = stateWidths.map((w) => takeArray(B * w));
      blocks.forEach(({ rows: n }, b) => {
        const r0 = firstRows[b];
        const from = outState < 0 ? k.view(ptrs[b].out, T * n * O) : keptState(b, outState).subarray(n * O);
        setRows(output, from, T, B, O, r0, n);
        finals.forEach((f, i) => f.set(keptState(b, i).subarray(T * n * stateWidths[i]), r0 * stateWidths[i]));
      });
      return { outputs: [output, ...finals], saved: kept };
    },
    backward(xs: Float32Array[], kept: Float32Array[], dys: Float32Array[]) {
      const k = kernel();
      k.reset();
      const calls = blocks.map((b) => new Call(k, b.bwd));
      bindShared(calls, k, true, xs);
      const ptrs = blocks.map((block, b) => {
        const { rows: n, bwd, A: Ab, P: Pb } = block;
        const call = calls[b];
        const r0 = firstRows[b];
        const sizes = stateWidths.map((w) => w * n);
        const mine = kept.slice((b * kept.length) / blocks.length, ((b + 1) * kept.length) / blocks.length);
        const statePtrs = names.state.map((name, i) => {
          const ptr = k.put(mine[i]);
          call.bind(Ab.state[name], ptr, sizes[i]);
          return ptr;
        });
        let j = nS;
        Ab.saved.forEach((id, i) => {
          const s = fromState[i];
          const size = sizeOf(Pb.buffers[id].shape);
          if (s >= 0) call.bind(id, statePtrs[s] + 4 * sizes[s], sizes[s]);
          else call.bind(id, k.put(mine[j++]), size);
        });
        call.bind(Ab.seedOutput, putRows(k, dys[0], T, B, O, r0, n), n * O);
        const dInputs = names.inputs.map((name, i) => {
          const ptr = k.alloc(T * n * widths[i]);
          const g = Ab.gradInputs[name];
          // A gradient that a post product writes for a whole chunk goes straight into the store.
          if (g !== undefined && bwd.stacked.has(g)) call.bind(bwd.slotOf[g], ptr, n * widths[i]);
          else call.copy(g, call.extra(ptr, n * widths[i]), n * widths[i]);
          return ptr;
        });
        // Sums over steps: a gradient whose product adds in place (lower.ts) is bound to its sum, the others added after each step.
        const accumulators = (grads: Record<string, number>, list: string[], size: (i: number) => number) =>
          list.map((name, i) => {
            const ptr = k.alloc(size(i));
            const g = grads[name];
            if (g !== undefined && bwd.accumulated.has(g)) call.bind(bwd.slotOf[g], ptr);
            else if (g !== undefined) call.copy(g, call.extra(ptr), size(i), true);
            return ptr;
          });
        const dParams = accumulators(Ab.gradParams, names.params, (i) => xs[nI + nS + i].length);
        const dConstants = accumulators(Ab.gradConstants, names.constants, (i) => constantRows(i, r0, n, xs[nI + nS + nP + i]).length);
        // dL/d(state_{t−1}) becomes the next iteration's seed: through a staging copy, since a
        // gradient may be read from one seed while another is overwritten.
        const seeds = names.state.map((name, i) => {
          const ptr = k.put(dys[1 + i].subarray(r0 * stateWidths[i], r0 * stateWidths[i] + sizes[i]));
          call.bind(Ab.seedState[name], ptr);
          const stage = call.extra(k.scratch(sizes[i]));
          call.copy(Ab.gradState[name], stage, sizes[i]);
          return { ptr, stage };
        });
        seeds.forEach(({ stage }, i) => call.copies.push(stage, bwd.slotOf[Ab.seedState[names.state[i]]], sizes[i], 0));
        return { dInputs, dParams, dConstants, seeds };
      });
      runCalls(k, calls, T, T - 1, -1);
      if (blocks.length === 1) {
        const { dInputs, dParams, dConstants, seeds } = ptrs[0];
        return [
          ...dInputs.map((ptr, i) => k.read(ptr, T * B * widths[i])),
          ...seeds.map(({ ptr }, i) => k.read(ptr, B * stateWidths[i])),
          ...dParams.map((ptr, i) => k.read(ptr, xs[nI + nS + i].length)),
          ...dConstants.map((ptr, i) => k.read(ptr, xs[nI + nS + nP + i].length)),
        ];
      }
      // Pooled arrays: rows are written by their block, sums set by the first block and added to by the others.
      const dInputs = widths.map((w) => takeArray(T * B * w));
      const dStates = stateWidths.map((w) => takeArray(B * w));
      const dParams = names.params.map((_, i) => takeArray(xs[nI + nS + i].length));
      const dConstants = names.constants.map((_, i) => takeArray(xs[nI + nS + nP + i].length));
      const addInto = (acc: Float32Array, from: Float32Array, first: boolean) => {
        if (first) acc.set(from);
        else for (let j = 0; j < acc.length; j++) acc[j] += from[j];
      };
      blocks.forEach(({ rows: n }, b) => {
        const r0 = firstRows[b];
        const p = ptrs[b];
        dInputs.forEach((d, i) => setRows(d, k.view(p.dInputs[i], T * n * widths[i]), T, B, widths[i], r0, n));
        dStates.forEach((d, i) => d.set(k.view(p.seeds[i].ptr, n * stateWidths[i]), r0 * stateWidths[i]));
        dParams.forEach((d, i) => addInto(d, k.view(p.dParams[i], d.length), b === 0));
        dConstants.forEach((d, i) => {
          const size = constantRows(i, r0, n, d).length;
          if (rowConstant(i, d)) d.set(k.view(p.dConstants[i], size), (r0 * d.length) / B);
          else addInto(d, k.view(p.dConstants[i], size), b === 0);
        });
      });
      return [...dInputs, ...dStates, ...dParams, ...dConstants];
    },
  };
}

/** [rows, cols] row-major → [cols, rows]. */
function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = x[r * cols + c];
  return out;
}
