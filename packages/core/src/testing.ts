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
import { fusedKernelsActive, kernelPreference, setFusedKernels, setKernelPreference, type KernelPreference } from './kernel.js';
import { buildLayersModel, resolveIR } from './builder.js';
import { createOptimizer } from './optimizer.js';
import { createRng } from './rng.js';
import { batchRows, initialState, paths, runSequence, type KernelPath } from './sequence.js';

export { CellTester, type CellTesterOptions, type StepReference, type Weights } from './cell-tester.js';

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
    // Under tidy: the variable keeps the data, the tensor it was made from is not left behind.
    params[name] = tf.tidy(() => tf.variable(tf.tensor(data, spec.shape), true));
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
  const { value, grads } = tf.variableGrads(loss, names.map((n) => vars[n]));
  value.dispose();
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
        tf.tidy(() => v.assign(tf.tensor(w, v.shape)));
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
    tf.tidy(() => v.assign(tf.tensor(base, v.shape)));
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
 * Train `model` (already compiled) on batches from `next` until the mean loss of the last
 * `window` steps is below `target` or `maxSteps` pass; returns every step's loss. (One
 * lucky batch under the target stopped training too early to score reliably.)
 */
export async function trainUntil(
  model: LayersModel,
  next: () => { x: tf.Tensor; y: tf.Tensor },
  { target, maxSteps, window = 10 }: { target: number; maxSteps: number; window?: number },
): Promise<number[]> {
  const losses: number[] = [];
  while (losses.length < maxSteps) {
    const { x, y } = next();
    losses.push((await model.trainOnBatch(x, y)) as number);
    tf.dispose([x, y]);
    const recent = losses.slice(-window);
    if (recent.length === window && recent.reduce((a, b) => a + b) / window < target) break;
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

/** Both whole-sequence kernels, for tests that run each against the generic loop. */
export const KERNELS: readonly KernelPreference[] = ['hand-written', 'traced'];

export interface FusedComparison {
  /** Per compared quantity (`output`, `state.<name>`, `grad.x`, `grad.<param>`, `grad.state.<name>`): max |fused − generic| / max |generic|. */
  errors: Record<string, number>;
  /** How many times the chosen whole-sequence kernel ran (0 means the comparison compared the generic loop with itself). */
  fusedRuns: number;
  /** The path the kernel run took ('hand-written', 'traced' or 'step loop: <reason>'). */
  path: KernelPath;
}

/**
 * `a` with a `begin` that alternates between `a`'s and `b`'s (two builds of one layer seed):
 * compareFused's generic run and kernel run each call begin once, so both draw the same
 * random masks (dropout, zoneout) from their own, equal streams.
 */
export function sharedDraws(a: BuiltCell, b: BuiltCell): BuiltCell {
  let calls = 0;
  const begin: CellInstance['begin'] = (ctx, P) => (calls++ % 2 === 0 ? a : b).cell.begin!(ctx, P);
  return { ...a, cell: { ...a.cell, begin }, dispose: () => [a, b].forEach((c) => c.dispose()) };
}

/**
 * Run a built cell over random x ([B, T, F]) from a random initial state with a
 * whole-sequence kernel — its hand-written one (default) or its traced step — and with
 * the generic loop, and compare outputs, final states and the gradients of a random
 * linear loss with respect to x, every parameter and the initial state.
 */
export function compareFused(
  built: BuiltCell,
  {
    batch,
    time,
    inputSize,
    seed = 1,
    training = false,
    kernel = 'hand-written',
  }: { batch: number; time: number; inputSize: number; seed?: number; training?: boolean; kernel?: KernelPreference },
): FusedComparison {
  const cell = built.cell;
  if (kernel === 'hand-written' && !cell.fused) throw new Error('this cell has no hand-written kernel');
  let fusedRuns = 0;
  let path: KernelPath = 'step loop: not run';
  const run = (useFused: boolean) =>
    tf.tidy(() => {
      const x = randomTensor([batch, time, inputSize], seed) as tf.Tensor3D;
      const s0 = initialState(cell, batch, built.params as Params);
      const names = Object.keys(s0);
      const start = names.map((n, i) => tf.add(s0[n], tf.mul(0.5, randomTensor(s0[n].shape, seed + 10 + i))) as tf.Tensor2D);
      const pnames = Object.keys(built.params);
      const outs: Record<string, tf.Tensor> = {};
      const lossOf = (...xs: tf.Tensor[]) => {
        const state = Object.fromEntries(names.map((n, i) => [n, xs[1 + pnames.length + i]])) as State;
        const params = Object.fromEntries(pnames.map((n, i) => [n, xs[1 + i]])) as Params;
        const r = runSequence(cell, params, xs[0] as tf.Tensor3D, { training, returnSequences: true, initialState: state });
        if (useFused) path = r.path;
        if (useFused && r.path === kernel) fusedRuns++;
        outs.output = tf.keep(r.output);
        let loss = tf.sum(tf.mul(r.output, randomTensor(r.output.shape, seed + 1)));
        names.forEach((n, i) => {
          outs[`state.${n}`] = tf.keep(r.state[n]);
          loss = tf.add(loss, tf.sum(tf.mul(r.state[n], randomTensor(r.state[n].shape, seed + 20 + i))));
        });
        return loss as tf.Scalar;
      };
      setFusedKernels(useFused);
      const before = kernelPreference();
      setKernelPreference(kernel);
      try {
        const grads = tf.grads(lossOf)([x, ...pnames.map((n) => built.params[n]), ...start]);
        const all: Record<string, Float32Array> = {};
        for (const [k, v] of Object.entries(outs)) all[k] = v.dataSync() as Float32Array;
        all['grad.x'] = grads[0].dataSync() as Float32Array;
        pnames.forEach((n, i) => (all[`grad.${n}`] = grads[1 + i].dataSync() as Float32Array));
        names.forEach((n, i) => (all[`grad.state.${n}`] = grads[1 + pnames.length + i].dataSync() as Float32Array));
        tf.dispose(Object.values(outs));
        return all;
      } finally {
        setFusedKernels(true);
        setKernelPreference(before);
      }
    });
  const generic = run(false);
  const withFused = run(true);
  if (!fusedKernelsActive()) throw new Error(`fused kernels do not apply on backend '${tf.getBackend()}'`);
  const errors: Record<string, number> = {};
  for (const [k, ref] of Object.entries(generic)) {
    const got = withFused[k];
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < ref.length; i++) {
      diff = Math.max(diff, Math.abs(got[i] - ref[i]));
      scale = Math.max(scale, Math.abs(ref[i]));
    }
    errors[k] = scale > 0 ? diff / scale : diff;
  }
  return { errors, fusedRuns, path };
}

/**
 * Train the same seeded model (`layers` of cells, then a softmax dense on every step)
 * twice on the same random data — with the fused kernels and with the generic loop —
 * and return both loss curves.
 */
export async function fusedTrainingCurves(
  plugins: CellPlugin[],
  layers: Array<{ cell: string; options: Record<string, unknown> }>,
  { steps = 20, batch = 4, time = 9, inputSize = 3, classes = 3, seed = 5, kernel = 'hand-written' as KernelPreference } = {},
): Promise<{ generic: number[]; fused: number[] }> {
  const cells = new Map(plugins.map((p) => [p.name, p]));
  const ir = { input: { shape: [time, inputSize] }, layers: [...layers, { type: 'dense', units: classes, activation: 'softmax' }], seed };
  const curve = async (useFused: boolean) => {
    setFusedKernels(useFused);
    const before = kernelPreference();
    setKernelPreference(kernel);
    try {
      const model = buildLayersModel(resolveIR(ir, cells), cells);
      model.compile({ optimizer: createOptimizer(model, { learningRate: 0.02 }), loss: 'categoricalCrossentropy' });
      const x = randomTensor([batch, time, inputSize], seed + 1);
      const rng = createRng(seed + 2);
      const y = tf.reshape(tf.oneHot(tf.tensor1d(Array.from({ length: batch * time }, () => rng.int(classes)), 'int32'), classes), [batch, time, classes]);
      const losses: number[] = [];
      for (let i = 0; i < steps; i++) losses.push((await model.trainOnBatch(x, y)) as number);
      tf.dispose([x, y]);
      model.dispose();
      return losses;
    } finally {
      setFusedKernels(true);
      setKernelPreference(before);
    }
  };
  return { generic: await curve(false), fused: await curve(true) };
}

/** Where the padding goes: behind each sequence, in front, or between its steps. */
export type Padding = 'right' | 'left' | 'gaps';

export interface PaddedComparison {
  /** Per quantity (`output`, `state.<name>`, `grad.x`, `grad.<param>`, `grad.state.<name>`): max |padded − alone| / max |alone|. */
  errors: Record<string, number>;
  /** Largest |output| change at a padded step from the step before it (0: the output is carried). */
  paddedOutputDrift: number;
  /** Largest |gradient| reaching a padded step's input (0: no gradient flows through padding). */
  paddedInputGrad: number;
  /** Which runSequence paths ran for the padded batch. */
  paths: { fused: number; loop: number };
}

/**
 * Run a built cell on a padded, masked batch (sequences of `lengths`, padded with random
 * junk, so a leak of padding shows: behind, in front, or between steps, per `pad`) and on each sequence alone,
 * unpadded, from the same random initial states; compare outputs at real steps, final
 * states, and the gradients of a random linear loss (over real steps and final states)
 * with respect to the inputs, every parameter and the initial states. `useFused` picks
 * the fused kernel or the generic loop.
 */
export function comparePadded(
  built: BuiltCell,
  { lengths, inputSize, seed = 1, pad = 'right', useFused = false }: { lengths: number[]; inputSize: number; seed?: number; pad?: Padding; useFused?: boolean },
): PaddedComparison {
  const cell = built.cell;
  const B = lengths.length;
  const longest = Math.max(...lengths);
  const T = pad === 'gaps' ? 2 * longest : longest;
  const pnames = Object.keys(built.params);
  // Each sequence's real steps: one run behind or in front of the padding, or every other step from b % 2 (gaps).
  const steps = (b: number) => Array.from({ length: lengths[b] }, (_, i) => (pad === 'left' ? T - lengths[b] + i : pad === 'gaps' ? 2 * i + (b % 2) : i));
  const maskData = new Float32Array(B * T);
  lengths.forEach((_, b) => steps(b).forEach((t) => (maskData[b * T + t] = 1)));
  /** Row b of a [B, T, k] tensor at its real steps, as [1, n, k]. */
  const real = (t: tf.Tensor, b: number) => tf.concat(steps(b).map((i) => tf.slice(t, [b, i, 0], [1, 1, -1])), 1);
  const counts = { ...paths };
  setFusedKernels(useFused);
  try {
    return tf.tidy(() => {
      const x = randomTensor([B, T, inputSize], seed) as tf.Tensor3D;
      const s0 = initialState(cell, B, built.params as Params);
      const names = Object.keys(s0);
      const states = names.map((n, i) => tf.add(s0[n], tf.mul(0.5, randomTensor(s0[n].shape, seed + 10 + i))) as tf.Tensor2D);
      const mask = tf.tensor2d(maskData, [B, T]);
      const outWeights = randomTensor([B, T, cell.outputSize], seed + 1);
      const stateWeights = names.map((n, i) => randomTensor(s0[n].shape, seed + 20 + i));
      // Loss over the real steps only (and the final states): the padded and the alone runs score the same terms.
      const run = (xs: tf.Tensor3D, params: Params, state: State, rows: number[], m?: tf.Tensor2D) => {
        const r = runSequence(cell, params, xs, { training: false, returnSequences: true, initialState: state, mask: m });
        const at = rows.length === 1 ? real(outWeights, rows[0]) : tf.mul(outWeights, tf.expandDims(mask, 2));
        let loss = tf.sum(tf.mul(r.output, at));
        names.forEach((n, i) => (loss = tf.add(loss, tf.sum(tf.mul(r.state[n], batchRows(stateWeights[i], rows))))));
        return { loss: loss as tf.Scalar, r };
      };
      const paramsOf = (xs: tf.Tensor[]) => Object.fromEntries(pnames.map((n, i) => [n, xs[1 + i]])) as Params;
      const stateOf = (xs: tf.Tensor[]) => Object.fromEntries(names.map((n, i) => [n, xs[1 + pnames.length + i]])) as State;
      const padded: Record<string, tf.Tensor> = {};
      const gp = tf.grads((...xs: tf.Tensor[]) => {
        const { loss, r } = run(xs[0] as tf.Tensor3D, paramsOf(xs), stateOf(xs), lengths.map((_, b) => b), mask);
        padded.output = tf.keep(r.output);
        for (const n of names) padded[`state.${n}`] = tf.keep(r.state[n]);
        return loss;
      })([x, ...pnames.map((n) => built.params[n]), ...states]);
      const used = { fused: paths.fused - counts.fused, loop: paths.loop - counts.loop };
      const errors: Record<string, number> = {};
      const note = (k: string, got: tf.Tensor, want: tf.Tensor) => {
        const scale = tf.max(tf.abs(want)).dataSync()[0];
        const diff = tf.max(tf.abs(tf.sub(got, want))).dataSync()[0];
        errors[k] = Math.max(errors[k] ?? 0, scale > 0 ? diff / scale : diff);
      };
      const paramGrads = pnames.map((n) => tf.zerosLike(built.params[n]) as tf.Tensor);
      lengths.forEach((n, b) => {
        const row = [b];
        if (n === 0) {
          // Nothing to run alone: the state stays the initial one and takes the loss's weights as its gradient.
          names.forEach((k, i) => {
            note(`state.${k}`, batchRows(padded[`state.${k}`], row), batchRows(states[i], row));
            note(`grad.state.${k}`, batchRows(gp[1 + pnames.length + i], row), batchRows(stateWeights[i], row));
          });
          return;
        }
        const xb = real(x, b) as tf.Tensor3D;
        const sb = states.map((s) => batchRows(s, row));
        const alone: Record<string, tf.Tensor> = {};
        const ga = tf.grads((...xs: tf.Tensor[]) => {
          const { loss, r } = run(xs[0] as tf.Tensor3D, paramsOf(xs), stateOf(xs), [b]);
          alone.output = tf.keep(r.output);
          for (const k of names) alone[`state.${k}`] = tf.keep(r.state[k]);
          return loss;
        })([xb, ...pnames.map((p) => built.params[p]), ...sb]);
        note('output', real(padded.output, b), alone.output);
        for (const k of names) note(`state.${k}`, batchRows(padded[`state.${k}`], row), alone[`state.${k}`]);
        note('grad.x', real(gp[0], b), ga[0]);
        names.forEach((k, i) => note(`grad.state.${k}`, batchRows(gp[1 + pnames.length + i], row), ga[1 + pnames.length + i]));
        pnames.forEach((_, i) => (paramGrads[i] = tf.add(paramGrads[i], ga[1 + i])));
        tf.dispose(Object.values(alone));
      });
      pnames.forEach((n, i) => note(`grad.${n}`, gp[1 + i], paramGrads[i]));
      // Padding: the output repeats the step before (zeros before the first real step), and no gradient reaches it.
      const pad = tf.sub(1, mask);
      const previous = tf.concat([tf.zeros([B, 1, cell.outputSize]), tf.slice(padded.output, [0, 0, 0], [-1, T - 1, -1])], 1);
      const paddedOutputDrift = tf.max(tf.mul(tf.abs(tf.sub(padded.output, previous)), tf.expandDims(pad, 2))).dataSync()[0];
      const paddedInputGrad = tf.max(tf.mul(tf.abs(gp[0]), tf.expandDims(pad, 2))).dataSync()[0];
      tf.dispose(Object.values(padded));
      return { errors, paddedOutputDrift, paddedInputGrad, paths: used };
    });
  } finally {
    setFusedKernels(true);
  }
}

/** The paths every cell's padded-batch test runs: generic loop and fused kernel, padding behind, in front and between steps. */
export const paddedPaths: Array<{ path: string; useFused: boolean; pad: Padding }> = [
  { path: 'generic', useFused: false, pad: 'right' },
  { path: 'fused', useFused: true, pad: 'right' },
  { path: 'generic, left padding', useFused: false, pad: 'left' },
  { path: 'fused, left padding', useFused: true, pad: 'left' },
  { path: 'generic, gaps', useFused: false, pad: 'gaps' },
  { path: 'fused, gaps', useFused: true, pad: 'gaps' },
];

/**
 * What a comparePadded result shows wrong, one message each (empty when the mask rule
 * holds): a quantity off by more than `tol`, output moving or gradient flowing at
 * padding, or the wrong path having run (the fused kernel once when asked, else never).
 */
export function paddedProblems(r: PaddedComparison, { useFused, tol = 1e-5 }: { useFused: boolean; tol?: number }): string[] {
  const out = Object.entries(r.errors).filter(([, e]) => !(e < tol)).map(([k, e]) => `${k}: relative error ${e}`);
  if (!('grad.x' in r.errors)) out.push('no gradient compared');
  if (r.paddedOutputDrift !== 0) out.push(`output moves at padding by ${r.paddedOutputDrift}`);
  if (r.paddedInputGrad !== 0) out.push(`gradient ${r.paddedInputGrad} reaches a padded input`);
  const want = useFused ? { fused: 1, loop: 0 } : { fused: 0, loop: r.paths.loop };
  if (JSON.stringify(r.paths) !== JSON.stringify(want)) out.push(`paths ${JSON.stringify(r.paths)}, expected ${JSON.stringify(want)}`);
  return out;
}
