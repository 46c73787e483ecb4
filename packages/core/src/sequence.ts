import * as tf from '@tensorflow/tfjs-core';
import type { CellInstance, FusedResult, Params, State } from './cell.js';
import { checkInterrupt, interruptPoint } from './interrupt.js';
import { fusedKernelsActive, gpuKernelsActive, kernelPreference } from './kernel.js';
import { runTracedGpu } from './gpu/traced-gpu.js';
import { nativeKernels } from './native.js';
import { runTraced } from './trace/traced.js';
import { perStepInputs } from './trace/tracer.js';

export interface SequenceOptions {
  training: boolean;
  /** Return [B, T, out] (true) or only the last step's [B, out] (false). */
  returnSequences: boolean;
  /** Start from this state instead of the cell's own initial state. */
  initialState?: State;
  /** Collect the cell's named signals, stacked time-major [T, B, k]. */
  recordSignals?: boolean;
  /**
   * [B, T], 1 at real steps and 0 at padding (Keras' rule): a masked step carries the
   * state unchanged and repeats the previous output (zeros before the first real step),
   * so no gradient flows through it.
   */
  mask?: tf.Tensor2D;
}

export interface SequenceResult {
  output: tf.Tensor;
  state: State;
  signals?: Record<string, tf.Tensor>;
  /** Which path ran: 'hand-written', 'traced', 'traced (webgpu)' or 'step loop: <reason>'. */
  path: KernelPath;
}

export type KernelPath = 'hand-written' | 'traced' | 'traced (webgpu)' | `step loop: ${string}`;

/** The cell's own initial state, or zeros of its declared sizes. */
export function initialState(cell: CellInstance, batch: number, params: Params): State {
  if (cell.initialState) return cell.initialState(batch, params);
  const s: State = {};
  for (const [name, size] of Object.entries(cell.state)) s[name] = tf.zeros([batch, size]);
  return s;
}

/**
 * Split a time-major [T, B, k] tensor into T slices of [B, k]. `tf.split` along axis 0
 * is a contiguous copy whose gradient is one concat (tf.unstack is far slower on wasm;
 * see research/perf-notes.md).
 */
function timeSlices(x: tf.Tensor3D): tf.Tensor2D[] {
  const [T, B, k] = x.shape;
  if (T === 1) return [tf.reshape(x, [B, k])];
  return tf.split(x, T, 0).map((s) => tf.reshape(s, [B, k]) as tf.Tensor2D);
}

/** Whether a cell with a hand-written kernel runs it under the kernel preference now (else its traced step). */
function handWritten(cell: CellInstance, training: boolean): boolean {
  const p = kernelPreference();
  if (p !== 'auto') return p === 'hand-written';
  const { traced, threads } = nativeKernels();
  const wins = cell.tracedWins;
  return !(traced && (wins === 'native' || (typeof wins === 'function' && wins({ threads, training }))));
}

/**
 * The generic time loop: project inputs for all steps in one batched op, then run the
 * cell's step T times. Where tensors live in CPU memory a whole-sequence kernel runs
 * instead: the cell's hand-written one, else its step traced into a program (see
 * trace/ir.ts); the result names the path that ran and, for the step loop, why.
 */
export function runSequence(cell: CellInstance, params: Params, x: tf.Tensor3D, opts: SequenceOptions): SequenceResult {
  const [B, T, F] = x.shape;
  let state = opts.initialState ?? initialState(cell, B, params);
  const last = (out: tf.Tensor3D) => {
    const O = out.shape[2];
    return opts.returnSequences ? out : tf.reshape(tf.slice(out, [0, T - 1, 0], [B, 1, O]), [B, O]);
  };
  let path: KernelPath | undefined;
  // Drawn once: a kernel that declines leaves the loop the masks it would have used.
  let drawn: Record<string, tf.Tensor> | undefined;
  const begin = () => (drawn ??= cell.begin ? cell.begin({ training: opts.training, batch: B, steps: T }, params) : {});
  const handRun = (): SequenceResult | undefined => {
    const kernel: Kernel = (xs, s0) => cell.fused!(xs, s0, params, { training: opts.training });
    const r = opts.mask ? fusedMasked(kernel, cell, x, state, opts.mask) : kernel(x, state);
    if (!r) return undefined;
    paths.fused++;
    return { output: last(r.output), state: r.state, path: 'hand-written' };
  };
  // A cell whose traced step wins here (tracedWins) still has its hand-written kernel should tracing fail.
  const fallback = () => (cell.fused && kernelPreference() === 'auto' && !handWritten(cell, opts.training) ? handRun() : undefined);
  // Probes need the per-step signals, which only the step function reports.
  if (opts.recordSignals) path = 'step loop: recording signals (probes)';
  else if (gpuKernelsActive()) {
    // Masks stay on the step loop: splitting a batch by its mask needs the mask on the CPU.
    if (opts.mask) path = 'step loop: padding masks have no WGSL kernel yet';
    else {
      const hand = kernelPreference() !== 'traced' ? cell.gpuFused?.(x, state, params, { training: opts.training }) : undefined;
      if (hand) return { output: last(hand.output), state: hand.state, path: 'hand-written' };
      const r = runTracedGpu(cell, params, x, state, begin(), opts.training);
      if (typeof r !== 'string') {
        paths.fused++;
        return { output: last(r.output), state: r.state, path: 'traced (webgpu)' };
      }
      path = `step loop: ${r}`;
    }
  } else if (!fusedKernelsActive()) path = 'step loop: whole-sequence kernels off (CELLSTACK_FUSED=0 or tensors on a GPU)';
  else if (cell.fused && handWritten(cell, opts.training)) {
    const r = handRun();
    if (r) return r;
  } else if (opts.mask) {
    // The traced kernel takes masks the same way: it runs only on real steps.
    let reason = 'not traced';
    const r = fusedMasked(tracedKernel(cell, params, opts.training, { shape: x.shape, begin }, (why) => (reason = why)), cell, x, state, opts.mask);
    if (r) {
      paths.fused++;
      return { output: last(r.output), state: r.state, path: 'traced' };
    }
    const hand = fallback();
    if (hand) return hand;
    path = `step loop: ${reason}`;
  }
  const timeMajor = tf.transpose(x, [1, 0, 2]) as tf.Tensor3D;
  const flat = tf.reshape(timeMajor, [T * B, F]) as tf.Tensor2D;
  const constants = begin();
  if (path === undefined) {
    const r = tracedWhole(cell, params, flat, constants, state, B, T, opts.training);
    if (typeof r !== 'string') {
      paths.fused++;
      return { output: last(r.output), state: r.state, path: 'traced' };
    }
    const hand = fallback();
    if (hand) return hand;
    path = `step loop: ${r}`;
  }
  paths.loop++;
  const projected = cell.project ? cell.project(flat, params) : { x: flat };
  const inputs: Record<string, tf.Tensor2D[]> = {};
  for (const [name, p] of Object.entries(projected)) inputs[name] = timeSlices(tf.reshape(p, [T, B, -1]) as tf.Tensor3D);
  const outputs: tf.Tensor2D[] = [];
  const signals: Record<string, tf.Tensor[]> = {};
  const perStep = Object.fromEntries(Object.entries(perStepInputs(cell, constants).inputs).map(([k, v]) => [k.slice(1), timeSlices(tf.reshape(v, [T, B, -1]) as tf.Tensor3D)]));
  const masks = opts.mask ? timeSlices(tf.reshape(tf.transpose(opts.mask), [T, B, 1]) as tf.Tensor3D) : undefined;
  let previous: tf.Tensor2D | undefined;
  for (let t = 0; t < T; t++) {
    checkInterrupt();
    const stepInputs: Record<string, tf.Tensor2D> = {};
    for (const name in inputs) stepInputs[name] = inputs[name][t];
    const stepConstants = { ...constants, ...Object.fromEntries(Object.entries(perStep).map(([k, v]) => [k, v[t]])) };
    const r = cell.step(stepInputs, state, params, { training: opts.training, batch: B, t, constants: stepConstants });
    let output = r.output;
    if (masks) {
      // prev + m·(new − prev): the new value at real steps, the carried one at padding.
      const m = masks[t];
      const keep = <X extends tf.Tensor2D>(prev: X, next: X) => tf.add(prev, tf.mul(m, tf.sub(next, prev))) as X;
      state = Object.fromEntries(Object.entries(r.state).map(([k, v]) => [k, keep(state[k], v)])) as State;
      output = previous = keep(previous ?? tf.zerosLike(r.output), r.output);
    } else state = r.state;
    // Each step's state carries the backward pass to the step before: check the flag there too.
    state = Object.fromEntries(Object.entries(state).map(([k, v]) => [k, interruptPoint(v)])) as State;
    if (opts.returnSequences || t === T - 1) outputs.push(output);
    if (opts.recordSignals && r.signals) for (const [k, v] of Object.entries(r.signals)) (signals[k] ??= []).push(v);
  }
  const output = opts.returnSequences ? tf.transpose(tf.stack(outputs, 0), [1, 0, 2]) : outputs[outputs.length - 1];
  const result: SequenceResult = { output, state, path };
  if (opts.recordSignals) result.signals = Object.fromEntries(Object.entries(signals).map(([k, v]) => [k, tf.stack(v, 0)]));
  return result;
}

/** How often runSequence ran each path in this process (tests and the CLI's kernel line read it). */
export const paths = { fused: 0, loop: 0 };

/** A whole-sequence kernel on x [B, T, F] from state s0 (undefined: it does not apply). */
type Kernel = (x: tf.Tensor3D, s0: State) => FusedResult | undefined;

/**
 * The cell's traced step over the time-major input [T·B, F], or why it cannot be traced. Its
 * `project` is traced into the same kernel where it can be (no separate tf ops with their own
 * gradients for it), else run eagerly as batched tf ops in front of the kernel.
 */
function tracedWhole(cell: CellInstance, params: Params, flat: tf.Tensor2D, all: Record<string, tf.Tensor>, s0: State, B: number, T: number, training: boolean): FusedResult | string {
  const opts = { batch: B, steps: T, training };
  const { inputs: perStep, constants } = perStepInputs(cell, all);
  const whole = cell.project ? runTraced(cell, params, { x: flat, ...perStep }, constants, s0, { ...opts, project: true }) : undefined;
  const r = whole === undefined || typeof whole === 'string' ? runTraced(cell, params, { ...(cell.project ? cell.project(flat, params) : { x: flat }), ...perStep }, constants, s0, opts) : whole;
  return typeof r === 'string' ? r : { output: r.output, state: r.state };
}

/** The traced kernel as a Kernel on [B, T, F] (the masked paths call it on parts of the batch). */
function tracedKernel(
  cell: CellInstance,
  params: Params,
  training: boolean,
  whole: { shape: readonly number[]; begin: () => Record<string, tf.Tensor> },
  failed: (reason: string) => void,
): Kernel {
  return (x, s0) => {
    const [B, T, F] = x.shape;
    const flat = tf.reshape(tf.transpose(x, [1, 0, 2]), [T * B, F]) as tf.Tensor2D;
    // A per-step draw is keyed by absolute (t, b): a part of the batch or of time would draw other bits.
    const all = B === whole.shape[0] && T === whole.shape[1];
    if (training && cell.perStep?.length && !all) {
      failed('per-step constants (dropout masks drawn per step) with padding masks that split the batch or time');
      return undefined;
    }
    // The whole batch shares the loop's draws (should tracing fail, the loop uses the same masks).
    const constants = all ? whole.begin() : cell.begin ? cell.begin({ training, batch: B, steps: T }, params) : {};
    const r = tracedWhole(cell, params, flat, constants, s0, B, T, training);
    if (typeof r !== 'string') return r;
    failed(r);
    return undefined;
  };
}

/**
 * A masked batch through the fused kernel. Where each sequence's real steps are one
 * contiguous run [s, e) (right or left padding), the masked result equals the kernel run
 * on x[s:e] alone: zeros before s, the kernel's outputs, then its last output repeated;
 * the final state is the kernel's. Sequences sharing (s, e) run as one kernel call.
 * Masks with gaps inside a sequence run in time chunks (fusedChunks).
 */
function fusedMasked(kernel: Kernel, cell: CellInstance, x: tf.Tensor3D, state: State, mask: tf.Tensor2D): FusedResult | undefined {
  const [B, T] = x.shape;
  const m = mask.dataSync();
  const groups = new Map<string, { s: number; e: number; rows: number[] }>();
  for (let b = 0; b < B; b++) {
    let s = 0;
    while (s < T && !m[b * T + s]) s++;
    let e = s;
    while (e < T && m[b * T + e]) e++;
    for (let t = e; t < T; t++) {
      if (m[b * T + t]) return fusedChunks(kernel, cell, x, state, m);
    }
    const key = `${s}:${e}`;
    const g = groups.get(key) ?? { s, e, rows: [] };
    g.rows.push(b);
    groups.set(key, g);
  }
  const only = groups.size === 1 ? [...groups.values()][0] : undefined;
  if (only && only.s === 0 && only.e === T) return kernel(x, state);
  const outs: tf.Tensor[] = [];
  const states: State[] = [];
  const order: number[] = [];
  for (const { s, e, rows } of groups.values()) {
    const s0 = Object.fromEntries(Object.entries(state).map(([k, v]) => [k, batchRows(v, rows)])) as State;
    order.push(...rows);
    if (e === s) {
      outs.push(tf.zeros([rows.length, T, cell.outputSize]));
      states.push(s0);
      continue;
    }
    const xs = batchRows(tf.slice(x, [0, s, 0], [-1, e - s, -1]), rows) as tf.Tensor3D;
    const r = kernel(xs, s0);
    if (!r) return undefined;
    const O = r.output.shape[2];
    const parts: tf.Tensor[] = [];
    if (s > 0) parts.push(tf.zeros([rows.length, s, O]));
    parts.push(r.output);
    // The last output repeated by broadcasting (tf.tile's gradient is one slice per copy).
    if (e < T) parts.push(tf.mul(tf.slice(r.output, [0, e - s - 1, 0], [-1, 1, -1]), tf.ones([1, T - e, 1])));
    outs.push(parts.length === 1 ? parts[0] : tf.concat(parts, 1));
    states.push(r.state);
  }
  if (groups.size === 1) return { output: outs[0] as tf.Tensor3D, state: states[0] };
  // Back from group order to batch order.
  const inverse = new Array<number>(B);
  order.forEach((b, i) => (inverse[b] = i));
  const output = batchRows(tf.concat(outs, 0), inverse) as tf.Tensor3D;
  const final = Object.fromEntries(Object.keys(state).map((k) => [k, batchRows(tf.concat(states.map((st) => st[k]), 0), inverse)])) as State;
  return { output, state: final };
}

/**
 * Any mask through the fused kernel: cut time where any sequence's mask changes, so that
 * within a chunk each sequence is all real or all padding. The real ones run the kernel
 * on the chunk from their carried states; the padded ones keep state and output.
 */
function fusedChunks(kernel: Kernel, cell: CellInstance, x: tf.Tensor3D, state: State, m: ArrayLike<number>): FusedResult | undefined {
  const [B, T] = x.shape;
  const cuts = [0];
  for (let t = 1; t < T; t++) {
    for (let b = 0; b < B; b++) {
      if (!m[b * T + t] !== !m[b * T + t - 1]) {
        cuts.push(t);
        break;
      }
    }
  }
  cuts.push(T);
  let current = state;
  let previous = tf.zeros([B, 1, cell.outputSize]) as tf.Tensor;
  const chunks: tf.Tensor[] = [];
  for (let c = 0; c + 1 < cuts.length; c++) {
    const [a, n] = [cuts[c], cuts[c + 1] - cuts[c]];
    const real: number[] = [];
    for (let b = 0; b < B; b++) if (m[b * T + a]) real.push(b);
    const carried = tf.mul(previous, tf.ones([1, n, 1]));
    if (!real.length) {
      chunks.push(carried);
      continue;
    }
    const r = kernel(batchRows(tf.slice(x, [0, a, 0], [-1, n, -1]), real) as tf.Tensor3D, mapState(current, (v) => batchRows(v, real)));
    if (!r) return undefined;
    // Row b of [all rows carried; real rows' results]: its result when real, else carried.
    const pick = Array.from({ length: B }, (_, b) => (real.includes(b) ? B + real.indexOf(b) : b));
    const next = current;
    current = Object.fromEntries(Object.keys(state).map((k) => [k, batchRows(tf.concat([next[k], r.state[k]], 0), pick)])) as State;
    const out = batchRows(tf.concat([carried, r.output], 0), pick);
    chunks.push(out);
    previous = tf.slice(out, [0, n - 1, 0], [-1, 1, -1]);
  }
  return { output: (chunks.length === 1 ? chunks[0] : tf.concat(chunks, 1)) as tf.Tensor3D, state: current };
}

const mapState = (s: State, f: (v: tf.Tensor2D) => tf.Tensor2D) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, f(v)])) as State;

/**
 * Rows `rows` (distinct) of t along the batch axis, copied in JS: it runs where the fused
 * kernels run, with tensors in CPU memory, and tf.gather is slow there (~1 ms for a
 * few rows on wasm) and lacks a gradient on wasm (UnsortedSegmentSum). The gradient
 * puts each row of dy back at its source row, zeros elsewhere.
 */
export function batchRows<X extends tf.Tensor>(t: X, rows: number[]): X {
  const [n, ...rest] = t.shape;
  if (rows.length === n && rows.every((r, i) => r === i)) return t;
  const size = rest.reduce((a, b) => a * b, 1);
  const op = tf.customGrad((x) => {
    const src = (x as tf.Tensor).dataSync() as Float32Array;
    const out = new Float32Array(rows.length * size);
    rows.forEach((r, i) => out.set(src.subarray(r * size, (r + 1) * size), i * size));
    return {
      value: tf.tensor(out, [rows.length, ...rest]),
      gradFunc: (dy: tf.Tensor) => {
        const g = dy.dataSync() as Float32Array;
        const back = new Float32Array(n * size);
        rows.forEach((r, i) => back.set(g.subarray(i * size, (i + 1) * size), r * size));
        return tf.tensor(back, t.shape);
      },
    };
  });
  return op(t) as X;
}
