import { loadKernel, type WasmKernel } from '../kernel.js';
import { sizeOf, type AdjointProgram, type StepProgram } from './ir.js';
import type { Lowered } from './lower.js';

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
  readonly copies: number[] = [];

  constructor(
    private readonly k: WasmKernel,
    private readonly low: Lowered,
  ) {
    for (const { slot, size } of low.temps) this.bind(slot, k.scratch(size));
    for (const { slot, values } of low.consts) this.bind(slot, k.put(values));
  }

  bind(slot: number, ptr: number, stride = 0): void {
    this.ptr[slot] = ptr;
    this.stride[slot] = stride;
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
    const head = [n, this.low.code.length / 32, this.copies.length / 4];
    const table: number[] = [];
    for (let i = 0; i < n; i++) table.push(this.ptr[i] ?? 0, this.stride[i] ?? 0);
    const code = new Int32Array(head.length + table.length + this.low.code.length + this.copies.length);
    code.set([...head, ...table]);
    code.set(this.low.code, head.length + table.length);
    code.set(this.copies, head.length + table.length + this.low.code.length);
    this.k.call('trace_run', this.k.putInts(code), this.k.scratch(n), steps, t0, dt);
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
      const states = names.state.map((n, i) => {
        const ptr = k.scratch((T + 1) * sizes[i]);
        k.write(ptr, xs[nI + i]);
        call.bind(P.state[n], ptr, sizes[i]);
        call.copy(P.nextState[n], call.extra(ptr + 4 * sizes[i], sizes[i]), sizes[i]);
        return ptr;
      });
      const out = k.scratch(T * B * O);
      call.copy(P.output, call.extra(out, B * O), B * O);
      const saved = A.saved.flatMap((id, i) => {
        if (fromState[i] >= 0) return [];
        const ptr = k.scratch(T * savedSizes[i]);
        call.copy(id, call.extra(ptr, savedSizes[i]), savedSizes[i]);
        return [{ ptr, size: savedSizes[i] }];
      });
      call.run(T, 0, 1);
      const allStates = states.map((ptr, i) => k.read(ptr, (T + 1) * sizes[i]));
      const finals = allStates.map((a, i) => a.slice(T * sizes[i], (T + 1) * sizes[i]));
      return {
        outputs: [k.read(out, T * B * O), ...finals],
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
        call.copy(A.gradInputs[n], call.extra(ptr, B * widths[i]), B * widths[i]);
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
