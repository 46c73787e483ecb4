import { CellstackError, clip } from './errors.js';
import { schemaErrors } from './schema.js';
import type { JsonSchema } from './cell.js';
import type { MergeMode } from './cell-layer.js';

/**
 * The model IR: a plain-JSON description of a stacked model. It is what the DSL
 * compiles to and what `runtime.build` turns into a tf.LayersModel.
 */
export interface ModelIR {
  /** Per-example input: [timesteps | null, features]. */
  input: { shape: [number | null, number]; dtype?: 'float32' | 'int32' };
  layers: LayerIR[];
  /** Seed of all parameter initialisation (random when absent). */
  seed?: number;
}

export interface CellLayerIR {
  cell: string;
  options?: Record<string, unknown>;
  /** Stack this many copies (default 1). */
  repeat?: number;
  /** Carry the final state into the next batch (see CellLayerArgs.stateful); default false. */
  stateful?: boolean;
  /** Also run a copy backwards over time and merge both directions (see CellLayerArgs.bidirectional). */
  bidirectional?: { merge?: MergeMode };
}
export type Activation = 'linear' | 'relu' | 'tanh' | 'sigmoid' | 'softmax' | 'elu' | 'selu' | 'softplus';
export interface DenseIR { type: 'dense'; units: number; activation?: Activation; useBias?: boolean; init?: 'glorot' | 'uniform' }
export interface DropoutIR { type: 'dropout'; rate: number }
/** Token ids → vectors; with `maskZero`, id 0 is padding and masks its step. */
export interface EmbeddingIR { type: 'embedding'; vocab: number; dim: number; maskZero?: boolean }
/** Keras' Masking: a step whose features all equal `value` (default 0) is padding. */
export interface MaskingIR { type: 'masking'; value?: number }
export interface PoolIR { type: 'last' | 'mean' }
export interface LayerNormIR { type: 'layerNorm'; epsilon?: number }
export type LayerIR = CellLayerIR | DenseIR | DropoutIR | EmbeddingIR | MaskingIR | PoolIR | LayerNormIR;

export const isCellLayer = (l: LayerIR): l is CellLayerIR => Object.hasOwn(l, 'cell');

/**
 * Limits checked before anything is allocated, so a hostile or mistyped spec fails with
 * a message instead of exhausting the stack or the heap. `maxParams` is a default budget
 * (runtime.build's `maxParams` option, the CLI's --max-params); the others are fixed.
 */
export const LIMITS = {
  /** Copies of one cell layer (`x256`). */
  maxRepeat: 256,
  /** Layers in the built model, repeats counted. */
  maxLayers: 1024,
  /** Parameters in the whole model (float32: 4 bytes each, and Adam keeps two more copies). */
  maxParams: 50_000_000,
  /** Any size or count in an IR or in options: whole numbers stay exact below 2^53. */
  maxInteger: Number.MAX_SAFE_INTEGER,
} as const;

const int1 = { type: 'integer', minimum: 1, maximum: LIMITS.maxInteger };
const activations: Activation[] = ['linear', 'relu', 'tanh', 'sigmoid', 'softmax', 'elu', 'selu', 'softplus'];

/** JSON Schema of each non-cell layer, keyed by `type`. */
export const layerSchemas: Record<string, JsonSchema> = {
  dense: {
    type: 'object',
    properties: {
      type: { const: 'dense' },
      units: int1,
      activation: { enum: activations, default: 'linear' },
      useBias: { type: 'boolean', default: true },
      init: {
        enum: ['glorot', 'uniform'],
        default: 'glorot',
        description: "'glorot': glorot-uniform kernel, zero bias (Keras); 'uniform': kernel and bias U(±1/√inputs) (PyTorch's nn.Linear, as the UR paper's reference code)",
      },
    },
    required: ['type', 'units'],
    additionalProperties: false,
  },
  dropout: {
    type: 'object',
    properties: { type: { const: 'dropout' }, rate: { type: 'number', minimum: 0, exclusiveMaximum: 1 } },
    required: ['type', 'rate'],
    additionalProperties: false,
  },
  embedding: {
    type: 'object',
    properties: { type: { const: 'embedding' }, vocab: int1, dim: int1, maskZero: { type: 'boolean', default: false } },
    required: ['type', 'vocab', 'dim'],
    additionalProperties: false,
  },
  masking: {
    type: 'object',
    properties: { type: { const: 'masking' }, value: { type: 'number', default: 0 } },
    required: ['type'],
    additionalProperties: false,
  },
  last: { type: 'object', properties: { type: { const: 'last' } }, required: ['type'], additionalProperties: false },
  mean: { type: 'object', properties: { type: { const: 'mean' } }, required: ['type'], additionalProperties: false },
  layerNorm: {
    type: 'object',
    properties: { type: { const: 'layerNorm' }, epsilon: { type: 'number', exclusiveMinimum: 0, default: 1e-3 } },
    required: ['type'],
    additionalProperties: false,
  },
};

const cellLayerSchema: JsonSchema = {
  type: 'object',
  properties: {
    cell: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9_-]*$' },
    options: { type: 'object' },
    repeat: { ...int1, maximum: LIMITS.maxRepeat, default: 1 },
    stateful: { type: 'boolean' },
    bidirectional: {
      type: 'object',
      properties: { merge: { enum: ['concat', 'sum', 'mean', 'mul'], default: 'concat' } },
      additionalProperties: false,
    },
  },
  required: ['cell'],
  additionalProperties: false,
};

/** The whole IR's JSON Schema (for editors and external tools). */
export const modelIRSchema: JsonSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'cellstack model IR',
  type: 'object',
  properties: {
    input: {
      type: 'object',
      properties: {
        shape: { type: 'array', items: [{ type: ['integer', 'null'], minimum: 1 }, int1], minItems: 2, maxItems: 2 },
        dtype: { enum: ['float32', 'int32'], default: 'float32' },
      },
      required: ['shape'],
      additionalProperties: false,
    },
    layers: { type: 'array', minItems: 1, items: { anyOf: [cellLayerSchema, ...Object.values(layerSchemas)] } },
    seed: { type: 'integer', minimum: 0, maximum: LIMITS.maxInteger },
  },
  required: ['input', 'layers'],
  additionalProperties: false,
};

const topSchema: JsonSchema = {
  ...modelIRSchema,
  properties: { ...(modelIRSchema.properties as object), layers: { type: 'array', minItems: 1 } },
};

/** One layer's structural errors, and a copy with its defaults filled in. */
function layerStructure(layer: unknown, path: string): { value: LayerIR; errors: CellstackError[] } {
  if (layer === null || typeof layer !== 'object' || Array.isArray(layer)) {
    const why = "must be a layer object: {cell, options?, repeat?} or {type: 'dense' | 'dropout' | 'embedding' | 'masking' | 'last' | 'mean' | 'layerNorm', …}";
    return { value: layer as LayerIR, errors: [new CellstackError(path, why)] };
  }
  if (Object.hasOwn(layer, 'cell')) return schemaErrors<CellLayerIR>(cellLayerSchema, layer, path);
  const type = (layer as { type?: unknown }).type;
  const schema = typeof type === 'string' && Object.hasOwn(layerSchemas, type) ? layerSchemas[type] : undefined;
  if (!schema) {
    const why = `must be one of ${Object.keys(layerSchemas).map((t) => `'${t}'`).join(' | ')}, or the layer must name a 'cell' (got ${clip(JSON.stringify(type) ?? String(type))})`;
    return { value: layer as LayerIR, errors: [new CellstackError(`${path}.type`, why)] };
  }
  return schemaErrors<LayerIR>(schema, layer, path);
}

/**
 * Every structural problem of an IR, layer by layer (so each names its exact path, e.g.
 * `layers[2].units`), and a copy with layer defaults filled in (absent when the IR has
 * no layer list). Cell options are the runtime's to check: it knows the cells.
 */
export function irStructure(ir: unknown): { ir?: ModelIR; errors: CellstackError[] } {
  const { value: out, errors } = schemaErrors<ModelIR>(topSchema, ir, '');
  if (out === null || typeof out !== 'object' || Array.isArray(out) || !Array.isArray(out.layers)) return { errors };
  out.layers = out.layers.map((layer, i) => {
    const r = layerStructure(layer, `layers[${i}]`);
    errors.push(...r.errors);
    return r.value;
  });
  return { ir: out, errors };
}

/** Structural validation of an IR (see irStructure): throws the first problem, else returns the filled-in copy. */
export function validateIR(ir: unknown): ModelIR {
  const { ir: out, errors } = irStructure(ir);
  if (errors.length) throw errors[0];
  return out!;
}
