import type { LayerIR, ModelIR } from '@cellstack/core';
import type { SpecAST } from './ast.js';
import { analyze, type BoundStage, type CheckOptions } from './check.js';
import { DslError, hasErrors } from './diagnostics.js';

/** One pipeline stage as an IR layer: options exactly as written (defaults stay implicit), `repeat` unless it is 1. */
export function layerOf({ stage, options }: BoundStage, repeat: number | undefined): LayerIR {
  if (Object.hasOwn(BUILTIN_TYPES, stage.name)) return { type: stage.name, ...options } as LayerIR;
  const layer: LayerIR = { cell: stage.name };
  if (Object.keys(options).length) layer.options = options;
  if (repeat !== undefined && repeat !== 1) layer.repeat = repeat;
  return layer;
}
const BUILTIN_TYPES = { dense: 1, dropout: 1, embedding: 1, masking: 1, last: 1, mean: 1, layerNorm: 1 };

/**
 * AST → the core's model IR (runs the checks first; throws DslError on any error).
 * Cell options appear as written, positional ones under their names; `dense`
 * without units gets the input's feature count; the train block's seed seeds the model.
 */
export function toIR(ast: SpecAST, opts: CheckOptions): ModelIR {
  const { diagnostics, ir } = analyze(ast, opts);
  if (hasErrors(diagnostics) || !ir) throw new DslError(diagnostics.filter((d) => d.severity === 'error'));
  return ir;
}
