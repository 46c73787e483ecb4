import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { CellLayer } from './cell-layer.js';
import { CellstackError, clip } from './errors.js';
import { WasmAdam, adamOnHeap, heapGradNorm } from './accel/adam.js';

type NamedTensor = { name: string; tensor: tf.Tensor };

/**
 * tf.addN in groups of at most 8: one WebGPU shader binds every input, and adapters may
 * allow as few as 8 storage buffers per stage (lavapipe does). Up to 8 inputs it is tf.addN.
 */
function addMany(ts: tf.Tensor[]): tf.Tensor {
  if (ts.length <= 8) return tf.addN(ts);
  const parts: tf.Tensor[] = [];
  for (let i = 0; i < ts.length; i += 8) parts.push(tf.addN(ts.slice(i, i + 8)));
  return addMany(parts);
}

/** Every optimiser cellstack trains with: the one list the DSL, the CLI and the docs read. */
export const OPTIMIZERS = ['adam', 'sgd', 'rmsprop', 'momentum'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

/** Which gradients `clipNorm` measures and scales (see OptimizerOptions.clipScope). */
export const CLIP_SCOPES = ['all', 'cells'] as const;
export type ClipScope = (typeof CLIP_SCOPES)[number];

export interface OptimizerOptions {
  name?: OptimizerName;
  learningRate?: number;
  /** Clip gradients to this global L2 norm (every paper in cellstack clips). */
  clipNorm?: number;
  /**
   * Which gradients the clipping norm is taken over and scales: 'all' (default; the global norm
   * over every trained variable, as Keras' and TF's clipnorm) or 'cells' (only the recurrent
   * cells' variables; the head's gradient passes unclipped, as PyTorch code that clips
   * `lstm.parameters()` only, e.g. r0mainK/ur-lstm's copy task).
   */
  clipScope?: ClipScope;
  /** Extra learning-rate multipliers by variable name (added to those the cells declare). */
  multipliers?: Record<string, number>;
  /** Momentum for 'momentum' (default 0.9). */
  momentum?: number;
}

const makeInner = (name: OptimizerName, lr: number, momentum: number): tf.Optimizer => {
  switch (name) {
    case 'adam':
      return new WasmAdam(lr, 0.9, 0.999);
    case 'sgd':
      return tf.train.sgd(lr);
    case 'rmsprop':
      return tf.train.rmsprop(lr);
    case 'momentum':
      return tf.train.momentum(lr, momentum);
  }
};

/**
 * An optimiser with real per-group learning rates and global-norm clipping, usable
 * with model.fit. Scaling gradients would not scale Adam's step (Adam divides the
 * scale out), so each multiplier gets its own inner optimiser with rate lr·multiplier.
 */
export class GroupedOptimizer extends tf.Optimizer {
  static className = 'cellstack.GroupedOptimizer';
  readonly options: Required<Omit<OptimizerOptions, 'multipliers' | 'clipNorm'>> & { clipNorm?: number };
  private readonly multipliers: Map<string, number>;
  // With clipScope 'cells': the names of the variables that clipping measures and scales.
  private readonly clipped: Set<string>;
  private readonly inner = new Map<number, tf.Optimizer>();
  /** Global gradient norm of the last step (before clipping), when `trackNorm` is on. */
  lastGradNorm: number | undefined;
  trackNorm = false;
  // On webgpu under Node a GPU value cannot be read synchronously: the norm waits here for readGradNorm().
  private pendingNorm: tf.Scalar | undefined;

  /** `cellVariables`: the names of the cells' variables, which clipScope 'cells' clips (createOptimizer passes them). */
  constructor(options: OptimizerOptions = {}, multipliers = new Map<string, number>(), cellVariables: Iterable<string> = []) {
    super();
    const name = options.name ?? 'adam';
    if (!(OPTIMIZERS as readonly string[]).includes(name)) {
      throw new CellstackError('optimizer.name', `must be one of ${OPTIMIZERS.map((o) => `'${o}'`).join(' | ')} (got ${clip(JSON.stringify(name) ?? String(name))})`);
    }
    const learningRate = options.learningRate ?? 1e-3;
    if (!(learningRate > 0)) throw new CellstackError('optimizer.learningRate', `must be a number > 0 (got ${learningRate})`);
    if (options.clipNorm !== undefined && !(options.clipNorm > 0)) {
      throw new CellstackError('optimizer.clipNorm', `must be a number > 0 (got ${options.clipNorm})`);
    }
    const clipScope = options.clipScope ?? 'all';
    if (!(CLIP_SCOPES as readonly string[]).includes(clipScope)) {
      throw new CellstackError('optimizer.clipScope', `must be one of ${CLIP_SCOPES.map((o) => `'${o}'`).join(' | ')} (got ${clip(JSON.stringify(clipScope) ?? String(clipScope))})`);
    }
    this.clipped = new Set(cellVariables);
    if (clipScope === 'cells') {
      if (options.clipNorm === undefined) throw new CellstackError('optimizer.clipScope', "'cells' applies only with clipNorm set");
      if (this.clipped.size === 0) {
        throw new CellstackError('optimizer.clipScope', "'cells' needs the model's cell variables: create the optimiser with createOptimizer(model, …) on a model with a recurrent cell");
      }
    }
    this.options = { name, learningRate, momentum: options.momentum ?? 0.9, clipNorm: options.clipNorm, clipScope };
    this.multipliers = new Map([...multipliers, ...Object.entries(options.multipliers ?? {})]);
    for (const [k, m] of this.multipliers) {
      if (!(m > 0)) throw new CellstackError(`optimizer.multipliers.${k}`, `must be a number > 0 (got ${m})`);
    }
  }

  /** The learning-rate multiplier applied to a variable. */
  multiplierOf(variableName: string): number {
    return this.multipliers.get(variableName) ?? 1;
  }

  private group(mult: number): tf.Optimizer {
    let opt = this.inner.get(mult);
    if (!opt) {
      opt = makeInner(this.options.name, this.options.learningRate * mult, this.options.momentum);
      this.inner.set(mult, opt);
    }
    return opt;
  }

  override applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const list: NamedTensor[] = Array.isArray(variableGradients)
      ? variableGradients.filter((g) => g.tensor != null)
      : Object.entries(variableGradients).filter(([, t]) => t != null).map(([name, tensor]) => ({ name, tensor }));
    if (this.options.name === 'adam' && adamOnHeap(list)) this.applyOnHeap(list);
    else this.applyWithOps(list);
    this.incrementIterations();
  }

  /** Clipping and the update as tensor ops (any backend, any optimiser). */
  private applyWithOps(list: NamedTensor[]): void {
    // Inner optimisers are made outside the tidy: their own constants (momentum's scalar) must outlive this step.
    for (const m of this.byMultiplier(list).keys()) this.group(m);
    tf.tidy(() => {
      let grads = list;
      const { clipNorm } = this.options;
      if (clipNorm !== undefined || this.trackNorm) {
        const normOf = (gs: NamedTensor[]) => tf.sqrt(addMany(gs.map((g) => tf.sum(tf.square(g.tensor)))));
        const norm = normOf(list);
        if (this.trackNorm && tf.getBackend() === 'webgpu') {
          this.pendingNorm?.dispose();
          this.pendingNorm = tf.keep(norm as tf.Scalar);
        } else if (this.trackNorm) this.lastGradNorm = norm.dataSync()[0];
        if (clipNorm !== undefined) {
          const inScope = list.filter((g) => this.clips(g.name));
          // A step without cell gradients (cells frozen) has nothing to clip.
          const clipNormOf = !this.scoped ? norm : inScope.length ? normOf(inScope) : tf.scalar(0);
          const scale = tf.div(clipNorm, tf.maximum(clipNormOf, clipNorm));
          grads = list.map((g) => ({ name: g.name, tensor: this.clips(g.name) ? tf.mul(g.tensor, scale) : g.tensor }));
        }
      }
      for (const [m, gs] of this.byMultiplier(grads)) this.group(m).applyGradients(gs);
    });
  }

  private get scoped(): boolean {
    return this.options.clipScope === 'cells';
  }

  /** Whether clipping scales this variable's gradient. */
  private clips(name: string): boolean {
    return !this.scoped || this.clipped.has(name);
  }

  /** The last step's gradient norm (`lastGradNorm` once read): on webgpu it is read back here, asynchronously. */
  async readGradNorm(): Promise<number | undefined> {
    const t = this.pendingNorm;
    if (t) {
      this.pendingNorm = undefined;
      this.lastGradNorm = (await t.data())[0];
      t.dispose();
    }
    return this.lastGradNorm;
  }

  /** Adam on the wasm backend: the norm and the update run on tfjs's heap (see WasmAdam). */
  private applyOnHeap(list: NamedTensor[]): void {
    let scale = 1;
    const { clipNorm } = this.options;
    if (clipNorm !== undefined || this.trackNorm) {
      const norm = heapGradNorm(list.map((g) => g.tensor));
      if (this.trackNorm) this.lastGradNorm = norm;
      const clipNormOf = this.scoped ? heapGradNorm(list.filter((g) => this.clips(g.name)).map((g) => g.tensor)) : norm;
      // As tf.div(clipNorm, tf.maximum(norm, clipNorm)) computes it, in float32.
      if (clipNorm !== undefined) scale = Math.fround(Math.fround(clipNorm) / Math.max(clipNormOf, Math.fround(clipNorm)));
    }
    for (const [m, gs] of this.byMultiplier(list)) {
      const opt = this.group(m) as WasmAdam;
      // One scale per applyScaled call (each call is one Adam step): a partly clipped group is scaled here first.
      const partly = this.scoped && scale !== 1 && gs.some((g) => !this.clips(g.name));
      const ready = partly ? gs.map((g) => ({ name: g.name, tensor: this.clips(g.name) ? tf.mul(g.tensor, scale) : g.tensor })) : gs;
      const s = partly ? 1 : scale;
      if (opt.fits(ready)) opt.applyScaled(ready, s);
      else tf.tidy(() => opt.applyGradients(ready.map((g) => ({ name: g.name, tensor: tf.mul(g.tensor, s) }))));
      if (partly) ready.forEach((g, i) => g.tensor !== gs[i].tensor && g.tensor.dispose());
    }
  }

  private byMultiplier<T extends { name: string }>(grads: T[]): Map<number, T[]> {
    const byMult = new Map<number, T[]>();
    for (const g of grads) {
      const m = this.multiplierOf(g.name);
      if (!byMult.has(m)) byMult.set(m, []);
      byMult.get(m)!.push(g);
    }
    return byMult;
  }

  /**
   * Every inner optimiser's slots (Adam moments…), names prefixed by their group
   * (`lr×0.25/…`), plus the iteration count — so a checkpoint resumes exactly.
   */
  override async getWeights(): Promise<NamedTensor[]> {
    const out: NamedTensor[] = [await this.saveIterations()];
    for (const mult of [...this.inner.keys()].sort((a, b) => a - b)) {
      const ws = await this.inner.get(mult)!.getWeights();
      for (const w of ws) out.push({ name: `lr×${mult}/${w.name}`, tensor: w.tensor });
    }
    return out;
  }

  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const rest = await this.extractIterations(weightValues);
    const byMult = new Map<number, NamedTensor[]>();
    for (const w of rest) {
      const m = /^lr×([^/]+)\/(.*)$/s.exec(w.name);
      if (!m) throw new CellstackError('optimizer weights', `unexpected slot '${w.name}': not saved by a GroupedOptimizer`);
      const mult = Number(m[1]);
      if (!byMult.has(mult)) byMult.set(mult, []);
      byMult.get(mult)!.push({ name: m[2], tensor: w.tensor });
    }
    for (const [mult, ws] of byMult) await this.group(mult).setWeights(ws);
  }

  override dispose(): void {
    for (const opt of this.inner.values()) opt.dispose();
    super.dispose();
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...this.options, clipNorm: this.options.clipNorm ?? null, multipliers: Object.fromEntries(this.multipliers), cellVariables: [...this.clipped] };
  }

  static override fromConfig<T extends tf.serialization.Serializable>(cls: tf.serialization.SerializableConstructor<T>, config: tf.serialization.ConfigDict): T {
    const { multipliers, clipNorm, cellVariables, ...rest } = config as unknown as OptimizerOptions & { clipNorm: number | null; cellVariables?: string[] };
    return new (cls as unknown as typeof GroupedOptimizer)({ ...rest, clipNorm: clipNorm ?? undefined, multipliers }, undefined, cellVariables) as unknown as T;
  }
}

/** The learning-rate multipliers that a model's cells declare, by variable name. */
export function modelMultipliers(model: LayersModel): Map<string, number> {
  const out = new Map<string, number>();
  for (const layer of model.layers) {
    // Duck-typed, so layers from a second copy of core still count.
    const cell = layer as Partial<CellLayer>;
    if (typeof cell.lrMultipliers === 'function') for (const [k, m] of cell.lrMultipliers()) out.set(k, m);
  }
  return out;
}

/** The names of the trained variables of a model's recurrent cells (what clipScope 'cells' clips). */
export function modelCellVariables(model: LayersModel): string[] {
  // Duck-typed as modelMultipliers: every cell layer declares lrMultipliers.
  return model.layers.filter((l) => typeof (l as Partial<CellLayer>).lrMultipliers === 'function').flatMap((l) => l.trainableWeights.map((w) => w.name));
}

/** An optimiser for `model` honouring its cells' learning-rate multipliers (and clipScope). */
export function createOptimizer(model: LayersModel, options: OptimizerOptions = {}): GroupedOptimizer {
  return new GroupedOptimizer(options, modelMultipliers(model), modelCellVariables(model));
}
