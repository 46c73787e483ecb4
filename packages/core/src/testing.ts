/**
 * Test kit for cell plugins (ours and third parties'), in the spirit of
 * typescript-eslint's RuleTester: run a cell on chosen weights, check gradients by
 * finite differences, check save → load, check for tensor leaks.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { CellInstance, CellPlugin, Params, State } from './cell.js';
import { loadModel, saveTo } from './io.js';
import { createRng } from './rng.js';
import { runSequence } from './sequence.js';

export type Values = ArrayLike<number> | number[][];
const flat = (v: Values): number[] => (Array.isArray(v) && Array.isArray(v[0]) ? (v as number[][]).flat() : Array.from(v as ArrayLike<number>));

export interface BuiltCell {
  cell: CellInstance;
  /** Parameters as variables (for gradient checks), initialised by the cell's own initialisers. */
  params: Record<string, tf.Variable>;
  options: Record<string, unknown>;
  dispose(): void;
}

/** Create a cell outside any model, with its parameters as tf variables. */
export function buildCell(
  plugin: CellPlugin,
  options: Record<string, unknown>,
  { inputSize, timesteps = null, seed = 1, values = {} }: { inputSize: number; timesteps?: number | null; seed?: number; values?: Record<string, Values> },
): BuiltCell {
  const ctx = { inputSize, timesteps, seed };
  const full = plugin.resolveOptions(options, 'options', ctx) as Record<string, unknown>;
  const cell = plugin.create(full, ctx);
  const rng = createRng(seed);
  const params: Record<string, tf.Variable> = {};
  for (const [name, spec] of Object.entries(cell.params)) {
    const given = values[name];
    const data = given ? Float32Array.from(flat(given)) : spec.init(spec.shape, rng.fork(name));
    params[name] = tf.variable(tf.tensor(data, spec.shape), true);
  }
  for (const name of Object.keys(values)) if (!(name in cell.params)) throw new Error(`${plugin.name} has no parameter '${name}'; it has ${Object.keys(cell.params).join(', ')}`);
  return { cell, params, options: full, dispose: () => Object.values(params).forEach((v) => v.dispose()) };
}

export interface RunResult {
  /** [B][T][out] */
  outputs: number[][][];
  /** Final state by name, [B][size]. */
  state: Record<string, number[][]>;
  signals: Record<string, number[][][]>;
}

/** Run a built cell over x ([B][T][F]) with the generic loop and read everything back. */
export function runCell(built: BuiltCell, x: number[][][], opts: { training?: boolean; initialState?: Record<string, number[][]> } = {}): RunResult {
  return tf.tidy(() => {
    const initial = opts.initialState
      ? (Object.fromEntries(Object.entries(opts.initialState).map(([k, v]) => [k, tf.tensor2d(v)])) as State)
      : undefined;
    const r = runSequence(built.cell, built.params as Params, tf.tensor3d(x), {
      training: opts.training ?? false,
      returnSequences: true,
      initialState: initial,
      recordSignals: true,
    });
    const signals: Record<string, number[][][]> = {};
    for (const [k, v] of Object.entries(r.signals ?? {})) signals[k] = v.arraySync() as number[][][];
    return {
      outputs: r.output.arraySync() as number[][][],
      state: Object.fromEntries(Object.entries(r.state).map(([k, v]) => [k, v.arraySync() as number[][]])),
      signals,
    };
  });
}

/** Tensor-level forward pass of a built cell: outputs [B, T, out] (for gradient checks). */
export function forward(built: BuiltCell, x: tf.Tensor3D, { training = false } = {}): tf.Tensor3D {
  return runSequence(built.cell, built.params as Params, x, { training, returnSequences: true }).output as tf.Tensor3D;
}

export interface GradCheckResult {
  /** Worst relative error |analytic − numeric| / max(1e-2, |analytic| + |numeric|) over checked entries. */
  maxRelError: number;
  worst: string;
  checked: number;
}

/**
 * Compare tf's gradients of `loss` with central finite differences, for every
 * variable (up to `perVariable` random entries each). float32 arithmetic: use eps
 * around 1e-2 and expect relative errors around 1e-3.
 */
export function gradCheck(loss: () => tf.Scalar, vars: Record<string, tf.Variable>, { eps = 1e-2, perVariable = 12, seed = 7 } = {}): GradCheckResult {
  const rng = createRng(seed);
  const names = Object.keys(vars);
  const { grads } = tf.variableGrads(loss, names.map((n) => vars[n]));
  let maxRelError = 0;
  let worst = '';
  let checked = 0;
  for (const n of names) {
    const v = vars[n];
    const g = grads[v.name].dataSync();
    const base = v.dataSync().slice();
    const idx = base.length <= perVariable ? [...base.keys()] : Array.from({ length: perVariable }, () => rng.int(base.length));
    for (const i of idx) {
      const at = (delta: number) => {
        const w = base.slice();
        w[i] += delta;
        v.assign(tf.tensor(w, v.shape));
        return tf.tidy(() => loss().dataSync()[0]);
      };
      const numeric = (at(eps) - at(-eps)) / (2 * eps);
      const rel = Math.abs(g[i] - numeric) / Math.max(1e-2, Math.abs(g[i]) + Math.abs(numeric));
      if (rel > maxRelError) {
        maxRelError = rel;
        worst = `${n}[${i}]: analytic ${g[i]}, numeric ${numeric}`;
      }
      checked++;
    }
    v.assign(tf.tensor(base, v.shape));
  }
  tf.dispose(grads);
  return { maxRelError, worst, checked };
}

/** Save to a temp folder and load back; returns the loaded model (temp files removed). */
export async function saveAndLoad(model: LayersModel): Promise<LayersModel> {
  const dir = await mkdtemp(path.join(tmpdir(), 'cellstack-'));
  try {
    await model.save(saveTo(dir));
    return await loadModel(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A deterministic random tensor of the given shape, values in [lo, hi). */
export function randomTensor(shape: number[], seed = 1, lo = -1, hi = 1): tf.Tensor {
  const rng = createRng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => rng.uniform(lo, hi)), shape);
}

/** The same as nested arrays. */
export function randomArray3(B: number, T: number, F: number, seed = 1, lo = -1, hi = 1): number[][][] {
  const rng = createRng(seed);
  return Array.from({ length: B }, () => Array.from({ length: T }, () => Array.from({ length: F }, () => rng.uniform(lo, hi))));
}

export const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** Plain-JS matrix helpers for independent reference computations in tests. */
export const ref = {
  /** row vector v [n] times matrix m [n][k] */
  vecMat(v: number[], m: number[][]): number[] {
    return m[0].map((_, j) => v.reduce((a, vi, i) => a + vi * m[i][j], 0));
  },
  add: (...vs: number[][]) => vs[0].map((_, i) => vs.reduce((a, v) => a + v[i], 0)),
  mul: (a: number[], b: number[]) => a.map((x, i) => x * b[i]),
  map: (a: number[], f: (x: number) => number) => a.map(f),
  /** [rows*cols] row-major → [rows][cols] */
  reshape(v: ArrayLike<number>, rows: number, cols: number): number[][] {
    return Array.from({ length: rows }, (_, r) => Array.from({ length: cols }, (_, c) => v[r * cols + c]));
  },
};

/**
 * Train `model` (already compiled) on batches from `next` until the loss of a step is
 * below `target` or `maxSteps` pass; returns every step's loss.
 */
export async function trainUntil(
  model: LayersModel,
  next: () => { x: tf.Tensor; y: tf.Tensor },
  { target, maxSteps }: { target: number; maxSteps: number },
): Promise<number[]> {
  const losses: number[] = [];
  while (losses.length < maxSteps) {
    const { x, y } = next();
    losses.push((await model.trainOnBatch(x, y)) as number);
    tf.dispose([x, y]);
    if (losses[losses.length - 1] < target) break;
  }
  return losses;
}

/**
 * Tensors left behind by `steps` training steps on one batch (0 for a leak-free
 * model). One warm-up step runs first, since optimisers create their slots lazily.
 */
export async function leakedTensors(model: LayersModel, x: tf.Tensor, y: tf.Tensor, steps = 50): Promise<number> {
  await model.trainOnBatch(x, y);
  const before = tf.memory().numTensors;
  for (let i = 0; i < steps; i++) await model.trainOnBatch(x, y);
  return tf.memory().numTensors - before;
}
