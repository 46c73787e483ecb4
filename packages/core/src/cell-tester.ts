/**
 * CellTester: every check a cell plugin needs, on one cell and one set of options — one step against a
 * plain-JS implementation, finite-difference gradients, the traced (or hand-written) kernel against the
 * step loop, save → load, tensor leaks, learning, and option errors. Each check returns numbers for the
 * test's own `expect`, so a failure names what and by how much.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { CellPlugin, Params } from './cell.js';
import { buildLayersModel, resolveIR } from './builder.js';
import { layerPaths } from './kernel-path.js';
import type { KernelPreference } from './kernel.js';
import { initialState, type KernelPath } from './sequence.js';
import { buildCell, compareFused, forward, gradCheck, leakedTensors, randomTensor, runCell, saveAndLoad, type BuiltCell, type FusedComparison, type GradCheckResult, type Values } from './testing.js';

/** A cell's parameters as plain arrays, for a reference implementation. */
export interface Weights {
  /** A 2-D parameter as rows. */
  matrix(name: string): number[][];
  /** A 1-D parameter. */
  vector(name: string): number[];
}

/** One step of the cell written in plain JS, for one batch row: its output and (optionally) next state. */
export type StepReference = (x: number[], state: Record<string, number[]>, w: Weights) => { output: number[]; state?: Record<string, number[]> };

export interface CellTesterOptions {
  /** The cell's options (defaults filled in by the plugin's schema). */
  options?: Record<string, unknown>;
  inputSize: number;
  /** Seeds the parameters' initialisers and every random input. */
  seed?: number;
  /** Hand-set parameter values by name (the others come from the cell's initialisers). */
  values?: Record<string, Values>;
}

export class CellTester {
  readonly built: BuiltCell;
  private readonly inputSize: number;
  private readonly seed: number;

  constructor(
    readonly plugin: CellPlugin,
    { options = {}, inputSize, seed = 1, values }: CellTesterOptions,
  ) {
    this.inputSize = inputSize;
    this.seed = seed;
    this.built = buildCell(plugin, options, { inputSize, seed, values });
  }

  /**
   * One step from a random state (the cell's initial state plus noise) on random inputs, per batch row
   * against `reference`: the largest |cell − reference| over the output and every state the reference
   * returns, and where it is.
   */
  oneStep(reference: StepReference, { batch = 3, seed = this.seed }: { batch?: number; seed?: number } = {}): { maxError: number; worst: string } {
    const { x, state } = tf.tidy(() => {
      const s0 = initialState(this.built.cell, batch, this.built.params as Params);
      const noisy = Object.fromEntries(Object.entries(s0).map(([k, v], i) => [k, (tf.add(v, tf.mul(0.5, randomTensor(v.shape, seed + 10 + i))) as tf.Tensor2D).arraySync()]));
      return { x: randomTensor([batch, 1, this.inputSize], seed).arraySync() as number[][][], state: noisy };
    });
    const got = runCell(this.built, x, { initialState: state });
    const arrays = Object.fromEntries(Object.entries(this.built.params).map(([k, v]) => [k, { shape: v.shape, data: v.arraySync() }]));
    const w: Weights = {
      matrix: (name) => param(arrays, name, 2, this.plugin.name) as number[][],
      vector: (name) => param(arrays, name, 1, this.plugin.name) as number[],
    };
    let maxError = 0;
    let worst = '';
    const note = (what: string, cell: number[], want: number[]) => {
      if (cell.length !== want.length) throw new Error(`${what}: the cell gives ${cell.length} values, the reference ${want.length}`);
      want.forEach((v, i) => {
        const e = Math.abs(cell[i] - v);
        if (!(e <= maxError)) [maxError, worst] = [Number.isNaN(e) ? Infinity : e, `${what}[${i}]: cell ${cell[i]}, reference ${v}`];
      });
    };
    for (let b = 0; b < batch; b++) {
      const rowState = Object.fromEntries(Object.entries(state).map(([k, v]) => [k, v[b]]));
      const want = reference(x[b][0], rowState, w);
      note(`row ${b} output`, got.outputs[b][0], want.output);
      for (const [k, v] of Object.entries(want.state ?? {})) {
        if (!(k in got.state)) throw new Error(`the reference returns state '${k}'; ${this.plugin.name}'s state is ${Object.keys(got.state).join(', ')}`);
        note(`row ${b} state.${k}`, got.state[k][b], v);
      }
    }
    return { maxError, worst };
  }

  /** tf's gradients of a random linear loss of the outputs vs central finite differences, for every parameter and the input. */
  gradients({ batch = 2, time = 4, eps = 1e-2, perVariable = 12 }: { batch?: number; time?: number; eps?: number; perVariable?: number } = {}): GradCheckResult {
    const x = tf.tidy(() => tf.variable(randomTensor([batch, time, this.inputSize], this.seed + 2)));
    const w = randomTensor([batch, time, this.built.cell.outputSize], this.seed + 3);
    try {
      return gradCheck(() => tf.tidy(() => tf.sum(tf.mul(forward(this.built, x as tf.Tensor as tf.Tensor3D), w)) as tf.Scalar), { ...this.built.params, x }, { eps, perVariable, seed: this.seed });
    } finally {
      tf.dispose([x, w]);
    }
  }

  /**
   * The whole-sequence kernel (`traced` by default, or the cell's `hand-written` one) against the step
   * loop from a random state: per quantity (`output`, `state.<name>`, `grad.x`, `grad.<param>`,
   * `grad.state.<name>`) max |kernel − loop| / max |loop|; `maxError` is the largest; `path` what ran.
   */
  kernelVsLoop({ batch = 3, time = 7, training = false, kernel = 'traced' }: { batch?: number; time?: number; training?: boolean; kernel?: KernelPreference } = {}): FusedComparison & { maxError: number } {
    const r = compareFused(this.built, { batch, time, inputSize: this.inputSize, seed: this.seed, training, kernel });
    return { ...r, maxError: Math.max(...Object.values(r.errors)) };
  }

  /**
   * A model of this cell (every step's output) and a dense layer, trained `steps` steps (Adam) to output
   * the running mean of the inputs: the losses, the tensors left behind by further steps (0 when
   * nothing leaks) and the path the cell layer ran.
   */
  async train({ steps = 20, batch = 8, time = 6, learningRate = 0.02 }: { steps?: number; batch?: number; time?: number; learningRate?: number } = {}): Promise<{ losses: number[]; leaked: number; path: KernelPath | undefined }> {
    const model = this.model(time);
    model.compile({ optimizer: tf.train.adam(learningRate), loss: 'meanSquaredError' });
    const x = randomTensor([batch, time, this.inputSize], this.seed + 4);
    const y = tf.tidy(() => tf.div(tf.cumsum(tf.mean(x, 2, true), 1), tf.reshape(tf.range(1, time + 1), [1, time, 1])));
    const losses: number[] = [];
    for (let i = 0; i < steps; i++) losses.push((await model.trainOnBatch(x, y)) as number);
    const leaked = await leakedTensors(model, x, y, 5);
    const path = layerPaths(model)[0]?.path;
    tf.dispose([x, y]);
    model.optimizer.dispose();
    model.dispose();
    return { losses, leaked, path };
  }

  /** Save a model of this cell and load it back: the largest |loaded − saved| prediction (0 expected). */
  async saveLoad({ time = 5, batch = 2 }: { time?: number; batch?: number } = {}): Promise<number> {
    const model = this.model(time);
    const loaded = await saveAndLoad(model);
    const x = randomTensor([batch, time, this.inputSize], this.seed + 5);
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(model.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor))).dataSync()[0]);
    tf.dispose(x);
    model.dispose();
    loaded.dispose();
    return diff;
  }

  /** The plugin's error for bad options (throws if it accepts them). */
  optionError(options: unknown): string {
    try {
      this.plugin.resolveOptions(options, 'options', { inputSize: this.inputSize, timesteps: null, seed: this.seed });
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error(`${this.plugin.name} accepted bad options ${JSON.stringify(options)}`);
  }

  dispose(): void {
    this.built.dispose();
  }

  private model(time: number): LayersModel {
    const cells = new Map([[this.plugin.name, this.plugin]]);
    const ir = { input: { shape: [time, this.inputSize] }, layers: [{ cell: this.plugin.name, options: this.built.options }, { type: 'dense', units: 1 }], seed: this.seed };
    return buildLayersModel(resolveIR(ir, cells), cells);
  }
}

function param(arrays: Record<string, { shape: number[]; data: unknown }>, name: string, rank: number, cell: string): unknown {
  const p = arrays[name];
  if (!p) throw new Error(`${cell} has no parameter '${name}'; it has ${Object.keys(arrays).join(', ')}`);
  if (p.shape.length !== rank) throw new Error(`${cell}'s parameter '${name}' has shape [${p.shape.join(', ')}], not rank ${rank}`);
  return p.data;
}
