/**
 * @cellstack/dsl — the .rnn language: `STAR(64) x4 -> last -> dense(10)`.
 * Stages: parse (tokens → CST → AST) → check → toIR → compile (tf.LayersModel);
 * plus format, fromIR and the `use` plugin loader with its allow list.
 */
export type { Arg, Comment, InputDecl, Pipeline, Span, SpecAST, Stage, Statement, TrainBlock, TrainEntry, UseDecl, Value } from './ast.js';
export { DslError, formatDiagnostic, type Diagnostic } from './diagnostics.js';
export { parse } from './visitor.js';
export { check, type CheckOptions, type InputShape } from './check.js';
export { toIR } from './to-ir.js';
export { compile, compileToIR, loadAllowedUses, type CompileOptions } from './compile.js';
export { format } from './format.js';
export { fromIR } from './from-ir.js';
export { loadUses, readAllowList, isAllowed } from './plugins.js';
export { taskOf, type TrainingSpec } from './training.js';
