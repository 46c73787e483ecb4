import * as tf from '@tensorflow/tfjs-core';
import { layers, type LayerVariable } from '@tensorflow/tfjs-layers';
import type { CellInstance, CellPlugin, JsonSchema, Params, State } from './cell.js';
import { createRng, hashSeed } from './rng.js';
import { NO_MASK } from './layers/last-step.js';
import { runSequence, type KernelPath } from './sequence.js';

type Shape = Array<number | null>;
export type MergeMode = 'concat' | 'sum' | 'mean' | 'mul';
/** Backward-direction parameters are stored under this prefix. */
const BACKWARD = 'backward_';

export interface CellLayerArgs {
  /** The cell's options; defaults are filled from its schema. */
  options?: Record<string, unknown>;
  /** Output every step ([B, T, out], default) or only the last ([B, out]). */
  returnSequences?: boolean;
  /**
   * Carry the final state of each batch into the next call (e.g. truncated BPTT over a
   * long text); the first call and `resetStates()` start from the cell's own initial state.
   */
  stateful?: boolean;
  /** Seed of this layer's parameter initialisation (random when absent). */
  seed?: number;
  /**
   * Run a second copy of the cell (its own parameters) backwards over time and merge the
   * two outputs per step: concatenated, summed, averaged or multiplied.
   */
  bidirectional?: { merge?: MergeMode };
  name?: string;
  trainable?: boolean;
  inputShape?: Shape;
  batchInputShape?: Shape;
}

/**
 * A sequence layer that runs one cell over time. Each plugin gets its own subclass
 * (class name `cellstack.<cell>`, set by defineCell) so saved models name the cell
 * they need; the config holds only plain options, never code.
 */
export abstract class CellLayer extends layers.Layer {
  /** Set on each plugin's subclass. */
  static plugin: CellPlugin;
  readonly cellOptions: Record<string, unknown>;
  readonly returnSequences: boolean;
  readonly seed: number;
  /** How a bidirectional layer merges its directions; undefined for a forward-only layer. */
  readonly merge?: MergeMode;
  /** The carried state of a stateful layer (kept tensors, no gradient through them). */
  private carried?: State;
  cell?: CellInstance;
  private vars: Record<string, LayerVariable> = {};
  /** When true, `call` keeps the cell's signals of the last forward pass in `lastSignals`. */
  recordSignals = false;
  lastSignals?: Record<string, tf.Tensor>;
  /** The path the last call ran: 'hand-written', 'traced' or 'step loop: <reason>'. */
  lastPath?: KernelPath;

  constructor(args: CellLayerArgs = {}) {
    super(args);
    const options = restoreNames(this.plugin.schema, args.options ?? {}) as Record<string, unknown>;
    this.cellOptions = this.plugin.resolveOptions(options, 'options') as Record<string, unknown>;
    this.returnSequences = args.returnSequences ?? true;
    this._stateful = args.stateful ?? false;
    this.seed = args.seed ?? Math.floor(Math.random() * 2 ** 31);
    if (args.bidirectional) {
      this.merge = args.bidirectional.merge ?? 'concat';
      if (!MERGES.includes(this.merge)) throw new Error(`${this.plugin.name} layer '${this.name}': bidirectional merge must be one of ${MERGES.join(', ')}, got '${this.merge}'`);
      if (this._stateful) throw new Error(`${this.plugin.name} layer '${this.name}' cannot be both stateful and bidirectional: the backward direction has no carried state`);
    }
    this.supportsMasking = true;
  }

  get plugin(): CellPlugin {
    return (this.constructor as typeof CellLayer).plugin;
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const ctx = { inputSize: shape[shape.length - 1] as number, timesteps: shape.length === 3 ? shape[1] : null, seed: this.seed };
    if (shape.length !== 3 || !(ctx.inputSize > 0)) {
      throw new Error(`${this.plugin.name} layer '${this.name}' needs input [batch, time, features] with known features, got [${shape}]`);
    }
    this.plugin.resolveOptions(this.cellOptions, 'options', ctx);
    this.cell = this.plugin.create(this.cellOptions as never, ctx);
    const directions = this.merge ? ['', BACKWARD] : [''];
    for (const prefix of directions) {
      const rng = createRng(prefix ? hashSeed(this.seed, 'backward') : this.seed);
      for (const [pname, spec] of Object.entries(this.cell.params)) {
        const init = { apply: (s: number[]) => tf.tensor(spec.init(s, rng.fork(pname)), s) };
        this.vars[prefix + pname] = this.addWeight(prefix + pname, spec.shape, 'float32', init as never, undefined, spec.trainable ?? true);
      }
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const out = this.outputSize(shape) * (this.merge === 'concat' ? 2 : 1);
    return this.returnSequences ? [shape[0], shape[1], out] : [shape[0], out];
  }

  private outputSize(shape: Shape): number {
    if (this.cell) return this.cell.outputSize;
    const ctx = { inputSize: shape[shape.length - 1] as number, timesteps: shape[1] ?? null };
    return this.plugin.create(this.cellOptions as never, ctx).outputSize;
  }

  /** Current parameter tensors by the cell's names (of the backward direction when asked). */
  params(direction: 'forward' | 'backward' = 'forward'): Params {
    const p: Params = {};
    for (const k of Object.keys(this.cell?.params ?? {})) p[k] = this.vars[direction === 'backward' ? BACKWARD + k : k].read();
    return p;
  }

  /** The padding mask passes on with every step's output; a sequence-to-one layer ends it. */
  override computeMask(_inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const m = Array.isArray(mask) ? mask[0] : mask;
    return this.returnSequences && m ? m : NO_MASK;
  }

  /** Variable name → learning-rate multiplier, for the grouped optimiser. */
  lrMultipliers(): Map<string, number> {
    const m = new Map<string, number>();
    for (const [k, v] of Object.entries(this.vars)) {
      const mult = (this.cell?.params[k] ?? this.cell?.params[k.slice(BACKWARD.length)])?.lrMultiplier;
      if (mult !== undefined && mult !== 1) m.set(v.name, mult);
    }
    return m;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean; mask?: tf.Tensor | tf.Tensor[] }): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor3D;
    const record = this.recordSignals;
    const batch = x.shape[0];
    if (this.carried && Object.values(this.carried)[0].shape[0] !== batch) {
      throw new Error(`stateful ${this.plugin.name} layer '${this.name}' carries a state for batch ${Object.values(this.carried)[0].shape[0]}, got batch ${batch}: call resetStates() first`);
    }
    const given = Array.isArray(kwargs.mask) ? kwargs.mask[0] : kwargs.mask;
    const mask = given ? (tf.cast(given, 'float32') as tf.Tensor2D) : undefined;
    const opts = { training: kwargs.training ?? false, returnSequences: this.returnSequences, mask };
    const r = runSequence(this.cell!, this.params(), x, { ...opts, recordSignals: record, initialState: this.carried });
    this.lastPath = r.path;
    if (this.merge) r.output = this.mergeWithBackward(r.output, x, opts);
    if (this.stateful) {
      const previous = this.carried;
      this.carried = Object.fromEntries(Object.entries(r.state).map(([k, v]) => [k, tf.keep(tf.clone(v))])) as State;
      if (previous) tf.dispose(Object.values(previous));
    }
    if (record) {
      for (const s of Object.values(this.lastSignals ?? {})) s.dispose();
      this.lastSignals = Object.fromEntries(Object.entries(r.signals ?? {}).map(([k, v]) => [k, tf.keep(v)]));
    }
    return r.output;
  }

  /**
   * The backward direction runs on the time-reversed input and mask (so with right
   * padding it starts at each sequence's own last real step), and its outputs are
   * reversed back before merging.
   */
  private mergeWithBackward(forward: tf.Tensor, x: tf.Tensor3D, opts: { training: boolean; returnSequences: boolean; mask?: tf.Tensor2D }): tf.Tensor {
    const b = runSequence(this.cell!, this.params('backward'), tf.reverse(x, 1), { ...opts, mask: opts.mask && tf.reverse(opts.mask, 1) });
    const backward = this.returnSequences ? tf.reverse(b.output, 1) : b.output;
    switch (this.merge) {
      case 'sum':
        return tf.add(forward, backward);
      case 'mean':
        return tf.mul(tf.add(forward, backward), 0.5);
      case 'mul':
        return tf.mul(forward, backward);
      default:
        return tf.concat([forward, backward], -1);
    }
  }

  /** Forget the carried state: the next call starts from the cell's initial state. */
  override resetStates(): void {
    if (this.carried) tf.dispose(Object.values(this.carried));
    this.carried = undefined;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      options: this.cellOptions as tf.serialization.ConfigDict,
      returnSequences: this.returnSequences,
      stateful: this.stateful,
      seed: this.seed,
      ...(this.merge ? { bidirectional: { merge: this.merge } } : {}),
    };
  }
}

const MERGES: MergeMode[] = ['concat', 'sum', 'mean', 'mul'];

const norm = (s: string) => s.toLowerCase().replace(/_/g, '');

/**
 * tfjs saves layer configs in Python style: keys and string values pass through
 * snake_case (so 'UR-' is saved as 'ur-', 'outputSize' as 'output_size'). Map such keys
 * and enum values back to the schema's spelling; exact values pass unchanged.
 */
function restoreNames(schema: JsonSchema, value: unknown): unknown {
  if (typeof value === 'string' && Array.isArray(schema.enum) && !schema.enum.includes(value)) {
    return schema.enum.find((e) => typeof e === 'string' && norm(e) === norm(value)) ?? value;
  }
  if (Array.isArray(value)) return value.map((v) => restoreNames((schema.items as JsonSchema) ?? {}, v));
  if (value && typeof value === 'object') {
    const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const key = k in props ? k : (Object.keys(props).find((p) => norm(p) === norm(k)) ?? k);
      out[key] = restoreNames(props[key] ?? {}, v);
    }
    return out;
  }
  for (const alt of [schema.anyOf, schema.oneOf]) {
    if (Array.isArray(alt)) for (const s of alt as JsonSchema[]) if (Array.isArray(s.enum)) return restoreNames(s, value);
  }
  return value;
}

/** Layer seed for position `index` of a model built with `seed`. */
export const layerSeed = (seed: number, index: number) => hashSeed(seed, 'layer', index);
