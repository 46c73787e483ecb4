import * as tf from '@tensorflow/tfjs-core';
import { layers, type LayerVariable } from '@tensorflow/tfjs-layers';
import type { CellInstance, CellPlugin, JsonSchema, Params, State } from './cell.js';
import { createRng, hashSeed } from './rng.js';
import { runSequence, type KernelPath } from './sequence.js';

type Shape = Array<number | null>;

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
    this.supportsMasking = false;
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
    const rng = createRng(this.seed);
    for (const [pname, spec] of Object.entries(this.cell.params)) {
      const init = { apply: (s: number[]) => tf.tensor(spec.init(s, rng.fork(pname)), s) };
      this.vars[pname] = this.addWeight(pname, spec.shape, 'float32', init as never, undefined, spec.trainable ?? true);
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const out = this.outputSize(shape);
    return this.returnSequences ? [shape[0], shape[1], out] : [shape[0], out];
  }

  private outputSize(shape: Shape): number {
    if (this.cell) return this.cell.outputSize;
    const ctx = { inputSize: shape[shape.length - 1] as number, timesteps: shape[1] ?? null };
    return this.plugin.create(this.cellOptions as never, ctx).outputSize;
  }

  /** Current parameter tensors by the cell's names. */
  params(): Params {
    const p: Params = {};
    for (const [k, v] of Object.entries(this.vars)) p[k] = v.read();
    return p;
  }

  /** Variable name → learning-rate multiplier, for the grouped optimiser. */
  lrMultipliers(): Map<string, number> {
    const m = new Map<string, number>();
    for (const [k, v] of Object.entries(this.vars)) {
      const mult = this.cell?.params[k].lrMultiplier;
      if (mult !== undefined && mult !== 1) m.set(v.name, mult);
    }
    return m;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor3D;
    const record = this.recordSignals;
    const batch = x.shape[0];
    if (this.carried && Object.values(this.carried)[0].shape[0] !== batch) {
      throw new Error(`stateful ${this.plugin.name} layer '${this.name}' carries a state for batch ${Object.values(this.carried)[0].shape[0]}, got batch ${batch}: call resetStates() first`);
    }
    const r = runSequence(this.cell!, this.params(), x, {
      training: kwargs.training ?? false,
      returnSequences: this.returnSequences,
      recordSignals: record,
      initialState: this.carried,
    });
    this.lastPath = r.path;
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
    };
  }
}

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
