import type * as tf from '@tensorflow/tfjs-core';
import type { Init } from './init.js';

/** JSON Schema for a cell's options (an object schema with `properties`). */
export interface OptionsSchema {
  type: 'object';
  properties: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties: false;
  [k: string]: unknown;
}
export type JsonSchema = Record<string, unknown>;

export type Params = Record<string, tf.Tensor>;
export type State = Record<string, tf.Tensor2D>;

/** What a cell knows when it is created: the input it will see. */
export interface CellContext {
  /** Features per time step. */
  inputSize: number;
  /** Sequence length when the model fixes it (used e.g. by chrono init's default tmax). */
  timesteps: number | null;
  /** The layer's seed, for cells that draw random numbers (zoneout, dropout masks). */
  seed?: number;
}

/** What every step of one forward pass shares. */
export interface StepContext {
  training: boolean;
  batch: number;
  /** Step index t (0-based). */
  t: number;
  /** Whatever `begin` returned for this sequence (e.g. dropout masks). */
  constants: Record<string, tf.Tensor>;
}

export interface ParamSpec {
  shape: number[];
  init: Init;
  /** Default true. Frozen parameters (e.g. a fixed UGI bias) are non-trainable weights. */
  trainable?: boolean;
  /** Learning-rate multiplier used by the core's grouped optimiser (DMU's depth scaling). */
  lrMultiplier?: number;
}

export interface StepResult {
  output: tf.Tensor2D;
  state: State;
  /** Named internal signals (gates, memory) — only read when probing. */
  signals?: Record<string, tf.Tensor>;
}

/**
 * A built cell: declared sizes, parameters, and a pure step function. The loop that
 * runs it over time is generic (and replaceable by a fused kernel), so a cell never
 * loops over time itself.
 */
export interface CellInstance {
  /** State tensors by name and size, in a fixed order (e.g. NRU: {h: 212, m: 256}). */
  state: Record<string, number>;
  /** Size of the output the next layer receives (RRU's differs from its state). */
  outputSize: number;
  params: Record<string, ParamSpec>;
  /** Initial state; default zeros of the declared sizes. */
  initialState?(batch: number, params: Params): State;
  /** Per-sequence constants (dropout masks…), computed once before the first step of `steps`. */
  begin?(ctx: { training: boolean; batch: number; steps: number }, params: Params): Record<string, tf.Tensor>;
  /**
   * Names of `begin` constants that hold one [B, k] block per step, stacked time-major as
   * [T·B, k] (a dropout mask drawn per step): `step` sees step t's block under the same name,
   * and the traced kernels read them as per-step inputs, so the step itself does not depend on t.
   */
  perStep?: readonly string[];
  /**
   * The time-parallel part: everything that depends only on the inputs, for all
   * steps at once. `x` is [T·B, inputSize] (time-major rows); each returned tensor
   * is [T·B, k] and reaches `step` as its [B, k] slice. Without `project`, step
   * receives `{ x }` per step. Rows must be independent (products, elementwise ops,
   * reductions over features): the traced kernel runs it on one step's [B, inputSize].
   */
  project?(x: tf.Tensor2D, params: Params): Record<string, tf.Tensor2D>;
  /** One recurrent step: projected inputs of step t and the previous state. */
  step(inputs: Record<string, tf.Tensor2D>, state: State, params: Params, ctx: StepContext): StepResult;
  /** Names of the signals `step` can report (probes). */
  signals?: readonly string[];
  /**
   * Optional whole-layer kernel with the step's exact semantics (see README, "Fused
   * kernels"): x [B, T, inputSize] as the layer receives it → every step's output
   * [B, T, out] and the final state, differentiable in x, params and state. Return
   * undefined where it does not apply (e.g. dropout while training): the generic loop
   * then runs instead.
   */
  fused?(x: tf.Tensor3D, state: State, params: Params, ctx: { training: boolean }): FusedResult | undefined;
  /**
   * Where the cell's traced step is measured faster than `fused` (tools/bench/traced.ts), so that the
   * default kernel preference ('auto') runs the traced step there; only ever where traced programs run on
   * the native addon (`nativeKernels().traced`): 'native' — always there; or a predicate of the call, e.g.
   * RRU's `({ threads, training }) => threads > 1 && !training` (inference, the batch split over threads).
   * Absent: `fused` wherever it applies.
   */
  tracedWins?: 'native' | ((call: { threads: number; training: boolean }) => boolean);
  /**
   * The same for tf's webgpu backend: GPU programs on GPU-resident tensors (no readback).
   * Used instead of the generic loop on webgpu while fused kernels are on.
   */
  gpuFused?(x: tf.Tensor3D, state: State, params: Params, ctx: { training: boolean }): FusedResult | undefined;
}

export interface FusedResult {
  output: tf.Tensor3D;
  state: State;
}

export interface CellDefinition<O extends object = Record<string, unknown>> {
  /** DSL keyword and registry key, e.g. 'STAR'. Letters, digits, '_' and '-'; starts with a letter. */
  name: string;
  description: string;
  /** JSON Schema for the options; every default from the cell's paper. */
  schema: OptionsSchema;
  /** Option names that may be given positionally in the DSL, in order (e.g. ['units']). */
  positional?: string[];
  /** Where the cell comes from, for docs and `cellstack cells`. */
  source?: { paper?: string; url?: string };
  /** Checks across options that a schema cannot express; return a message (with `path`) or nothing. */
  validate?(options: O, ctx: CellContext): { path: string; message: string } | undefined;
  create(options: O, ctx: CellContext): CellInstance;
}

/** A cell plugin as registered: the definition plus the tf layer class that serialises it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- plugins of any options type share one registry
export interface CellPlugin<O extends object = any> extends CellDefinition<O> {
  readonly kind: 'cellstack-cell';
  /** tf serialisation class name, `cellstack.<name>`. */
  readonly className: string;
  /** Options with every default filled in (throws CellstackError on bad options). */
  resolveOptions(options: unknown, path?: string, ctx?: CellContext): O;
}
