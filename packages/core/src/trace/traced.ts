import * as tf from '@tensorflow/tfjs-core';
import type { CellInstance, Params, State } from '../cell.js';
import { fusedCall } from '../kernel.js';
import { differentiate } from './autodiff.js';
import { TraceAbort } from './builder.js';
import { nativeTraceParts } from '../native.js';
import { compiledSpec, type Names, type RowBlock } from './compiled.js';
import { Interpreter } from './interpret.js';
import { opInputs, sizeOf, type AdjointProgram, type StepProgram } from './ir.js';
import { lower, type Lowered } from './lower.js';
import { rowBlockReason } from './split.js';
import { traceStep, type StepShapes } from './tracer.js';

/** A traced step with its adjoint, lowered for kernel/trace.c (or why not: then the JS interpreter runs them). */
interface Traced {
  forward: StepProgram;
  adjoint: AdjointProgram;
  /** Parameters the step reads, in the op's input order. */
  params: string[];
  lowered: { fwd: Lowered; bwd: Lowered } | string;
  /** The JS interpreters, made on first use (their buffers are reused call to call). */
  js?: { fwd: Interpreter; bwd: Interpreter };
}

export type TraceInterpreter = 'wasm' | 'js';
let interpreter: TraceInterpreter = process.env.CELLSTACK_TRACE_INTERPRETER === 'js' ? 'js' : 'wasm';

/**
 * Which interpreter runs traced programs: the compiled one (kernel/trace.c, default) or the
 * JS reference (CELLSTACK_TRACE_INTERPRETER=js), which defines the IR's semantics.
 */
export function setTraceInterpreter(i: TraceInterpreter): void {
  interpreter = i;
}

const cache = new WeakMap<CellInstance, Map<string, Traced | string>>();

/** The traced program for these shapes, or the reason the step cannot be traced (both cached per cell). */
export function tracedProgram(cell: CellInstance, shapes: StepShapes, training: boolean, T: number): Traced | string {
  const key = JSON.stringify([shapes, training, T > 1]);
  let byKey = cache.get(cell);
  if (!byKey) cache.set(cell, (byKey = new Map()));
  let entry = byKey.get(key);
  if (entry === undefined) {
    try {
      const forward = traceStep(cell, shapes, training, T);
      const adjoint = differentiate(forward);
      const read = new Set([...forward.ops.flatMap(opInputs), forward.output, ...Object.values(forward.nextState)]);
      // What the time loops read after each step; every other value may stay inside a fused run.
      // Given for every step before a call (so products of them may run per chunk): the inputs; in the backward also the states and saved values.
      const inputs = Object.values(forward.inputs);
      const fwd = lower(forward.buffers, forward.ops, [forward.output, ...Object.values(forward.nextState), ...adjoint.saved], [], { given: new Set(inputs) });
      const grads = [adjoint.gradInputs, adjoint.gradState, adjoint.gradParams, adjoint.gradConstants].flatMap((g) => Object.values(g));
      // Parameter and constant gradients are sums over steps: a product may add into the sum itself.
      const sums = [adjoint.gradParams, adjoint.gradConstants].flatMap((g) => Object.values(g));
      const given = new Set([...inputs, ...Object.values(forward.state), ...adjoint.saved]);
      const bwd = lower(adjoint.buffers, adjoint.ops, grads, sums, { given, stackResults: Object.values(adjoint.gradInputs) });
      entry = {
        forward,
        adjoint,
        params: Object.keys(forward.params).filter((k) => read.has(forward.params[k])),
        lowered: typeof fwd === 'string' ? fwd : typeof bwd === 'string' ? bwd : { fwd, bwd },
      };
    } catch (e) {
      if (!(e instanceof TraceAbort)) throw e;
      entry = e.message;
    }
    byKey.set(key, entry);
  }
  return entry;
}

export interface TracedRun {
  /** [B, T, out] */
  output: tf.Tensor3D;
  state: State;
}

/**
 * The traced whole-sequence path, given the time-major inputs [T·B, k] — the raw input as
 * `{ x }` with `project` (the cell's project is then traced into the step program), else the
 * projected inputs computed eagerly — and the `begin` constants (computed eagerly as batched
 * tf ops; tf's own autodiff covers them): the traced step runs over all T steps in one op
 * with a custom gradient whose backward runs the adjoint program over t = T−1 … 0. Returns
 * the reason instead when the step cannot be traced.
 */
export function runTraced(
  cell: CellInstance,
  params: Params,
  projected: Record<string, tf.Tensor2D>,
  constants: Record<string, tf.Tensor>,
  state0: State,
  { batch: B, steps: T, training, project = false }: { batch: number; steps: number; training: boolean; project?: boolean },
): TracedRun | string {
  const shapes: StepShapes = {
    batch: B,
    inputs: Object.fromEntries(Object.entries(projected).map(([k, v]) => [k, v.shape[1]])),
    params: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v.shape])),
    constants: Object.fromEntries(Object.entries(constants).map(([k, v]) => [k, v.shape])),
    ...(project ? { project } : {}),
  };
  const traced = tracedProgram(cell, shapes, training, T);
  if (typeof traced === 'string') return traced;
  const names = {
    inputs: Object.keys(projected),
    state: Object.keys(cell.state),
    params: traced.params,
    constants: Object.keys(constants),
  };
  const tensors = [
    ...names.inputs.map((k) => projected[k]),
    ...names.state.map((k) => state0[k]),
    ...names.params.map((k) => params[k]),
    ...names.constants.map((k) => constants[k]),
  ];
  const O = traced.forward.buffers[traced.forward.output].shape[1];
  const stateSizes = names.state.map((k) => cell.state[k]);
  const spec =
    interpreter === 'wasm' && typeof traced.lowered !== 'string'
      ? compiledSpec(rowBlocks(cell, shapes, training, T, traced), names, B, T)
      : jsSpec(traced, names, B, T, O, stateSizes);
  // A state that is the output (h in most cells) is the last step's output: one tensor fewer to pack and unpack.
  const own = names.state.map((k) => traced.forward.nextState[k] !== traced.forward.output);
  const outs = fusedCall(tensors, [[T, B, O], ...stateSizes.filter((_, i) => own[i]).map((s) => [B, s])], {
    forward(xs: Float32Array[]) {
      const r = spec.forward(xs);
      return { outputs: [r.outputs[0], ...r.outputs.slice(1).filter((_, i) => own[i])], saved: r.saved };
    },
    backward(xs: Float32Array[], saved: Parameters<typeof spec.backward>[1], dys: Float32Array[]) {
      let j = 1;
      return spec.backward(xs, saved, [dys[0], ...own.map((o, i) => (o ? dys[j++] : new Float32Array(B * stateSizes[i])))]);
    },
  });
  const output = tf.transpose(outs[0], [1, 0, 2]) as tf.Tensor3D;
  let j = 1;
  const last = () => tf.reshape(tf.slice(outs[0], [T - 1, 0, 0], [1, B, O]), [B, O]) as tf.Tensor2D;
  const state = Object.fromEntries(names.state.map((k, i) => [k, own[i] ? (outs[j++] as tf.Tensor2D) : last()]));
  return { output, state };
}

/**
 * The blocks of batch rows a compiled call runs side by side: one per thread the addon may use
 * (never below one row), each with the step traced for its rows, when split.ts finds that the
 * step keeps batch rows apart; else the whole batch as one block.
 */
function rowBlocks(cell: CellInstance, shapes: StepShapes, training: boolean, T: number, traced: Traced): RowBlock[] {
  const B = shapes.batch;
  const lowered = traced.lowered as { fwd: Lowered; bwd: Lowered };
  const whole = [{ rows: B, P: traced.forward, A: traced.adjoint, ...lowered }];
  const parts = Math.min(nativeTraceParts()?.threads ?? 1, B);
  if (parts < 2) return whole;
  const rows = Array.from({ length: parts }, (_, i) => Math.floor(B / parts) + (i < B % parts ? 1 : 0));
  const blocks: RowBlock[] = [];
  for (const n of rows) {
    // Constants of [B, …] (masks) hold rows of the batch: n of them in a block (split.ts checks that the step reads them so).
    const constants = Object.fromEntries(Object.entries(shapes.constants).map(([k, s]) => [k, s.length > 1 && s[0] === B ? [n, ...s.slice(1)] : s]));
    const sub = tracedProgram(cell, { ...shapes, batch: n, constants }, training, T);
    if (typeof sub === 'string' || typeof sub.lowered === 'string' || blockReason(traced, sub, B, n)) return whole;
    blocks.push({ rows: n, P: sub.forward, A: sub.adjoint, ...sub.lowered });
  }
  return blocks;
}

/** split.ts's verdict on running `sub` as a block of `traced`'s batch of B rows, cached on both. */
const verdicts = new WeakMap<Traced, Map<string, string | undefined>>();
function blockReason(traced: Traced, sub: Traced, B: number, n: number): string | undefined {
  let byKey = verdicts.get(sub);
  if (!byKey) verdicts.set(sub, (byKey = new Map()));
  const key = `${B}`;
  if (!byKey.has(key)) byKey.set(key, rowBlockReason(traced, sub, B, n));
  return byKey.get(key);
}

/** The time loops on the JS reference interpreter. */
function jsSpec(tr: Traced, names: Names, B: number, T: number, O: number, stateSizes: number[]) {
  const { forward: P, adjoint: A } = tr;
  tr.js ??= { fwd: new Interpreter(P.buffers, P.ops), bwd: new Interpreter(A.buffers, A.ops) };
  const { fwd, bwd } = tr.js;
  const nI = names.inputs.length;
  const nS = names.state.length;
  const nP = names.params.length;
  const split = (xs: Float32Array[]) => ({
    inputs: xs.slice(0, nI),
    state: xs.slice(nI, nI + nS),
    params: xs.slice(nI + nS, nI + nS + nP),
    constants: xs.slice(nI + nS + nP),
  });
  const widths = names.inputs.map((k) => P.buffers[P.inputs[k]].shape[1]);
  const savedSizes = A.saved.map((id) => sizeOf(P.buffers[id].shape));
  // As compiled.ts: a saved next state is read from the kept states at step t + 1.
  const fromState = A.saved.map((id) => names.state.findIndex((n) => P.nextState[n] === id));
  const step = (a: Float32Array, t: number, n: number) => a.subarray(t * n, (t + 1) * n);
  return {
    forward(xs: Float32Array[]) {
      const v = split(xs);
      names.params.forEach((k, i) => fwd.bind(P.params[k], v.params[i]));
      names.constants.forEach((k, i) => fwd.bind(P.constants[k], v.constants[i]));
      // Every step's state (t = 0 … T), kept for the backward pass; plus the values it reads saved.
      const states = stateSizes.map((s, i) => {
        const all = new Float32Array((T + 1) * B * s);
        all.set(v.state[i]);
        return all;
      });
      const saved = savedSizes.map((n, i) => new Float32Array(fromState[i] < 0 ? T * n : 0));
      const out = new Float32Array(T * B * O);
      for (let t = 0; t < T; t++) {
        names.inputs.forEach((k, i) => fwd.bind(P.inputs[k], step(v.inputs[i], t, B * widths[i])));
        names.state.forEach((k, i) => fwd.bind(P.state[k], step(states[i], t, B * stateSizes[i])));
        fwd.run();
        out.set(fwd.get(P.output), t * B * O);
        names.state.forEach((k, i) => states[i].set(fwd.get(P.nextState[k]), (t + 1) * B * stateSizes[i]));
        A.saved.forEach((id, i) => {
          if (fromState[i] < 0) saved[i].set(fwd.get(id), t * savedSizes[i]);
        });
      }
      const finals = states.map((all, i) => all.slice(T * B * stateSizes[i]));
      return { outputs: [out, ...finals], saved: [...states, ...saved] };
    },
    backward(xs: Float32Array[], keptArrays: Float32Array[], dys: Float32Array[]) {
      const v = split(xs);
      const kept = { states: keptArrays.slice(0, nS), saved: keptArrays.slice(nS) };
      names.params.forEach((k, i) => bwd.bind(A.params[k], v.params[i]));
      names.constants.forEach((k, i) => bwd.bind(A.constants[k], v.constants[i]));
      const dInputs = widths.map((w) => new Float32Array(T * B * w));
      const dParams = v.params.map((p) => new Float32Array(p.length));
      const dConstants = v.constants.map((c) => new Float32Array(c.length));
      let dState = dys.slice(1).map((d) => Float32Array.from(d));
      const dOut = dys[0];
      const addInto = (acc: Float32Array, id: number | undefined) => {
        if (id === undefined) return;
        const g = bwd.get(id);
        for (let j = 0; j < acc.length; j++) acc[j] += g[j];
      };
      for (let t = T - 1; t >= 0; t--) {
        names.inputs.forEach((k, i) => bwd.bind(A.inputs[k], step(v.inputs[i], t, B * widths[i])));
        names.state.forEach((k, i) => bwd.bind(A.state[k], step(kept.states[i], t, B * stateSizes[i])));
        A.saved.forEach((id, i) => bwd.bind(id, fromState[i] < 0 ? step(kept.saved[i], t, savedSizes[i]) : step(kept.states[fromState[i]], t + 1, savedSizes[i])));
        bwd.bind(A.seedOutput, step(dOut, t, B * O));
        names.state.forEach((k, i) => bwd.bind(A.seedState[k], dState[i]));
        bwd.run();
        names.inputs.forEach((k, i) => {
          const id = A.gradInputs[k];
          if (id !== undefined) dInputs[i].set(bwd.get(id), t * B * widths[i]);
        });
        names.params.forEach((k, i) => addInto(dParams[i], A.gradParams[k]));
        names.constants.forEach((k, i) => addInto(dConstants[i], A.gradConstants[k]));
        dState = names.state.map((k, i) => {
          const id = A.gradState[k];
          return id === undefined ? new Float32Array(B * stateSizes[i]) : Float32Array.from(bwd.get(id));
        });
      }
      return [...dInputs, ...dState, ...dParams, ...dConstants];
    },
  };
}
