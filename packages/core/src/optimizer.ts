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

export interface OptimizerOptions {
  name?: OptimizerName;
  learningRate?: number;
  /** Clip gradients to this global L2 norm (every paper in cellstack clips). */
  clipNorm?: number;
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
  private readonly inner = new Map<number, tf.Optimizer>();
  /** Global gradient norm of the last step (before clipping), when `trackNorm` is on. */
  lastGradNorm: number | undefined;
  trackNorm = false;
  // On webgpu under Node a GPU value cannot be read synchronously: the norm waits here for readGradNorm().
  private pendingNorm: tf.Scalar | undefined;

  constructor(options: OptimizerOptions = {}, multipliers = new Map<string, number>()) {
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
    this.options = { name, learningRate, momentum: options.momentum ?? 0.9, clipNorm: options.clipNorm };
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
        const norm = tf.sqrt(addMany(list.map((g) => tf.sum(tf.square(g.tensor)))));
        if (this.trackNorm && tf.getBackend() === 'webgpu') {
          this.pendingNorm?.dispose();
          this.pendingNorm = tf.keep(norm as tf.Scalar);
        } else if (this.trackNorm) this.lastGradNorm = norm.dataSync()[0];
        if (clipNorm !== undefined) {
          const scale = tf.div(clipNorm, tf.maximum(norm, clipNorm));
          grads = list.map((g) => ({ name: g.name, tensor: tf.mul(g.tensor, scale) }));
        }
      }
      for (const [m, gs] of this.byMultiplier(grads)) this.group(m).applyGradients(gs);
    });
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
      // As tf.div(clipNorm, tf.maximum(norm, clipNorm)) computes it, in float32.
      if (clipNorm !== undefined) scale = Math.fround(Math.fround(clipNorm) / Math.max(norm, Math.fround(clipNorm)));
    }
    for (const [m, gs] of this.byMultiplier(list)) {
      const opt = this.group(m) as WasmAdam;
      if (opt.fits(gs)) opt.applyScaled(gs, scale);
      else tf.tidy(() => opt.applyGradients(gs.map((g) => ({ name: g.name, tensor: tf.mul(g.tensor, scale) }))));
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
    return { ...this.options, clipNorm: this.options.clipNorm ?? null, multipliers: Object.fromEntries(this.multipliers) };
  }

  static override fromConfig<T extends tf.serialization.Serializable>(cls: tf.serialization.SerializableConstructor<T>, config: tf.serialization.ConfigDict): T {
    const { multipliers, clipNorm, ...rest } = config as unknown as OptimizerOptions & { clipNorm: number | null };
    return new (cls as unknown as typeof GroupedOptimizer)({ ...rest, clipNorm: clipNorm ?? undefined, multipliers }) as unknown as T;
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

/** An optimiser for `model` honouring its cells' learning-rate multipliers. */
export function createOptimizer(model: LayersModel, options: OptimizerOptions = {}): GroupedOptimizer {
  return new GroupedOptimizer(options, modelMultipliers(model));
}
