import { checkInterrupt } from '../interrupt.js';
import { loadKernel, type WasmKernel } from '../kernel.js';
import { nativeTrace } from '../native.js';
import { countProduct } from '../products.js';
import { sizeOf, type AdjointProgram, type StepProgram } from './ir.js';
import { CHUNK, OP_WORDS, type Lowered } from './lower.js';

const kernel = (): WasmKernel => loadKernel(new URL('../../kernel/trace.wasm', import.meta.url));

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

  run(steps: number, t0: number, dt: number): void {
    const n = Math.max(this.low.slots, this.ptr.length);
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
    const codePtr = this.k.putInts(code);
    // The addon runs the same interpreter over the same buffers, its products on its threads.
    const host = nativeTrace();
    if (!host) return this.k.call('trace_run', codePtr, this.k.scratch(n), steps, t0, dt);
    checkInterrupt();
    countProduct(host(this.k.buffer, codePtr, steps, t0, dt));
  }
}

/**
 * The compiled time loops: the forward program over t = 0 … T−1 in one call and the
 * adjoint over t = T−1 … 0 in another, everything in the module's memory (copied in and
 * out once per call, as the hand-written kernels do).
 */
export function compiledSpec(P: StepProgram, A: AdjointProgram, fwd: Lowered, bwd: Lowered, names: Names, B: number, T: number) {
  const widths = names.inputs.map((k) => P.buffers[P.inputs[k]].shape[1]);
  const sizes = names.state.map((k) => P.buffers[P.state[k]].shape[1] * B);
  const O = P.buffers[P.output].shape[1];
  const savedSizes = A.saved.map((id) => sizeOf(P.buffers[id].shape));
  // A saved value that is a next state is read from the kept states (step t + 1), not stored again.
  const fromState = A.saved.map((id) => names.state.findIndex((n) => P.nextState[n] === id));
  const nI = names.inputs.length;
  const nS = names.state.length;
  const nP = names.params.length;
  const bindShared = (call: Call, k: WasmKernel, prog: StepProgram | AdjointProgram, low: Lowered, xs: Float32Array[]) => {
    names.inputs.forEach((n, i) => call.bind(prog.inputs[n], k.put(xs[i]), B * widths[i]));
    const fixed = new Map<number, Float32Array>();
    names.params.forEach((n, i) => fixed.set(prog.params[n], xs[nI + nS + i]));
    names.constants.forEach((n, i) => fixed.set(prog.constants[n], xs[nI + nS + nP + i]));
    for (const [id, data] of fixed) call.bind(id, k.put(data));
    for (const { slot, of, rows, cols } of low.transposed) call.bind(slot, k.put(transpose(fixed.get(of)!, rows, cols)));
  };
  return {
    forward(xs: Float32Array[]) {
      const k = kernel();
      k.reset();
      const call = new Call(k, fwd);
      bindShared(call, k, P, fwd, xs);
      // A value the loop stores every step is written there by its op where it has a scratch slot of its own, else copied after the step.
      const own = new Set(fwd.temps.map((t) => t.slot));
      const store = (id: number, ptr: number, size: number) => {
        const slot = fwd.slotOf[id];
        if (own.delete(slot)) call.bind(slot, ptr, size);
        else call.copy(id, call.extra(ptr, size), size);
      };
      const states = names.state.map((n, i) => {
        const ptr = k.scratch((T + 1) * sizes[i]);
        k.write(ptr, xs[nI + i]);
        call.bind(P.state[n], ptr, sizes[i]);
        store(P.nextState[n], ptr + 4 * sizes[i], sizes[i]);
        return ptr;
      });
      // An output that is a state (h in most cells) is read from the kept states.
      const outState = names.state.findIndex((n) => P.nextState[n] === P.output);
      const out = outState < 0 ? k.scratch(T * B * O) : 0;
      if (outState < 0) store(P.output, out, B * O);
      const saved = A.saved.flatMap((id, i) => {
        if (fromState[i] >= 0) return [];
        const ptr = k.scratch(T * savedSizes[i]);
        store(id, ptr, savedSizes[i]);
        return [{ ptr, size: savedSizes[i] }];
      });
      call.run(T, 0, 1);
      const allStates = states.map((ptr, i) => k.read(ptr, (T + 1) * sizes[i]));
      const finals = allStates.map((a, i) => a.slice(T * sizes[i], (T + 1) * sizes[i]));
      return {
        outputs: [outState < 0 ? k.read(out, T * B * O) : allStates[outState].slice(B * O), ...finals],
        saved: { states: allStates, saved: saved.map(({ ptr, size }) => k.read(ptr, T * size)) },
      };
    },
    backward(xs: Float32Array[], kept: { states: Float32Array[]; saved: Float32Array[] }, dys: Float32Array[]) {
      const k = kernel();
      k.reset();
      const call = new Call(k, bwd);
      bindShared(call, k, A, bwd, xs);
      const statePtrs = names.state.map((n, i) => {
        const ptr = k.put(kept.states[i]);
        call.bind(A.state[n], ptr, sizes[i]);
        return ptr;
      });
      let j = 0;
      A.saved.forEach((id, i) => {
        const s = fromState[i];
        if (s >= 0) call.bind(id, statePtrs[s] + 4 * sizes[s], sizes[s]);
        else call.bind(id, k.put(kept.saved[j++]), savedSizes[i]);
      });
      call.bind(A.seedOutput, k.put(dys[0]), B * O);
      const dInputs = names.inputs.map((n, i) => {
        const ptr = k.alloc(T * B * widths[i]);
        const g = A.gradInputs[n];
        // A gradient that a post product writes for a whole chunk goes straight into the store.
        if (g !== undefined && bwd.stacked.has(g)) call.bind(bwd.slotOf[g], ptr, B * widths[i]);
        else call.copy(g, call.extra(ptr, B * widths[i]), B * widths[i]);
        return ptr;
      });
      // Sums over steps: a gradient whose product adds in place (lower.ts) is bound to its sum, the others added after each step.
      const accumulators = (prog: Record<string, number>, grads: Record<string, number>, list: string[], first: number) =>
        list.map((n, i) => {
          const size = xs[first + i].length;
          const ptr = k.alloc(size);
          const g = grads[n];
          if (g !== undefined && bwd.accumulated.has(g)) call.bind(bwd.slotOf[g], ptr);
          else if (g !== undefined) call.copy(g, call.extra(ptr), size, true);
          return { ptr, size };
        });
      const dParams = accumulators(A.params, A.gradParams, names.params, nI + nS);
      const dConstants = accumulators(A.constants, A.gradConstants, names.constants, nI + nS + nP);
      // dL/d(state_{t−1}) becomes the next iteration's seed: through a staging copy, since a
      // gradient may be read from one seed while another is overwritten.
      const seeds = names.state.map((n, i) => {
        const ptr = k.put(dys[1 + i]);
        call.bind(A.seedState[n], ptr);
        const stage = call.extra(k.scratch(sizes[i]));
        call.copy(A.gradState[n], stage, sizes[i]);
        return { ptr, stage };
      });
      seeds.forEach(({ stage }, i) => call.copies.push(stage, bwd.slotOf[A.seedState[names.state[i]]], sizes[i], 0));
      call.run(T, T - 1, -1);
      return [
        ...dInputs.map((ptr, i) => k.read(ptr, T * B * widths[i])),
        ...seeds.map(({ ptr }, i) => k.read(ptr, sizes[i])),
        ...dParams.map(({ ptr, size }) => k.read(ptr, size)),
        ...dConstants.map(({ ptr, size }) => k.read(ptr, size)),
      ];
    },
  };
}

/** [rows, cols] row-major → [cols, rows]. */
function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = x[r * cols + c];
  return out;
}
