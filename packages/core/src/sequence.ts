import * as tf from '@tensorflow/tfjs-core';
import type { CellInstance, Params, State } from './cell.js';
import { fusedKernelsActive, gpuKernelsActive, kernelPreference } from './kernel.js';
import { runTraced } from './trace/traced.js';

export interface SequenceOptions {
  training: boolean;
  /** Return [B, T, out] (true) or only the last step's [B, out] (false). */
  returnSequences: boolean;
  /** Start from this state instead of the cell's own initial state. */
  initialState?: State;
  /** Collect the cell's named signals, stacked time-major [T, B, k]. */
  recordSignals?: boolean;
}

export interface SequenceResult {
  output: tf.Tensor;
  state: State;
  signals?: Record<string, tf.Tensor>;
  /** Which path ran: 'hand-written', 'traced' or 'step loop: <reason>'. */
  path: KernelPath;
}

export type KernelPath = 'hand-written' | 'traced' | `step loop: ${string}`;

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
  // Probes need the per-step signals, which only the step function reports.
  if (opts.recordSignals) path = 'step loop: recording signals (probes)';
  else if (gpuKernelsActive()) {
    const r = cell.gpuFused?.(x, state, params, { training: opts.training });
    if (r) return { output: last(r.output), state: r.state, path: 'hand-written' };
    path = 'step loop: no WGSL kernel for this cell';
  } else if (!fusedKernelsActive()) path = 'step loop: whole-sequence kernels off (CELLSTACK_FUSED=0 or tensors on a GPU)';
  else if (cell.fused && kernelPreference() === 'hand-written') {
    const r = cell.fused(x, state, params, { training: opts.training });
    if (r) return { output: last(r.output), state: r.state, path: 'hand-written' };
  }
  const timeMajor = tf.transpose(x, [1, 0, 2]) as tf.Tensor3D;
  const flat = tf.reshape(timeMajor, [T * B, F]) as tf.Tensor2D;
  const projected = cell.project ? cell.project(flat, params) : { x: flat };
  const constants = cell.begin ? cell.begin({ training: opts.training, batch: B }, params) : {};
  if (path === undefined) {
    const r = runTraced(cell, params, projected, constants, state, { batch: B, steps: T, training: opts.training });
    if (typeof r !== 'string') return { output: last(r.output), state: r.state, path: 'traced' };
    path = `step loop: ${r}`;
  }
  const inputs: Record<string, tf.Tensor2D[]> = {};
  for (const [name, p] of Object.entries(projected)) inputs[name] = timeSlices(tf.reshape(p, [T, B, -1]) as tf.Tensor3D);
  const outputs: tf.Tensor2D[] = [];
  const signals: Record<string, tf.Tensor[]> = {};
  for (let t = 0; t < T; t++) {
    const stepInputs: Record<string, tf.Tensor2D> = {};
    for (const name in inputs) stepInputs[name] = inputs[name][t];
    const r = cell.step(stepInputs, state, params, { training: opts.training, batch: B, t, constants });
    state = r.state;
    if (opts.returnSequences || t === T - 1) outputs.push(r.output);
    if (opts.recordSignals && r.signals) for (const [k, v] of Object.entries(r.signals)) (signals[k] ??= []).push(v);
  }
  const output = opts.returnSequences ? tf.transpose(tf.stack(outputs, 0), [1, 0, 2]) : outputs[outputs.length - 1];
  const result: SequenceResult = { output, state, path };
  if (opts.recordSignals) result.signals = Object.fromEntries(Object.entries(signals).map(([k, v]) => [k, tf.stack(v, 0)]));
  return result;
}
