import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { ModelIR, Runtime } from '@cellstack/core';
import { CellstackError } from '@cellstack/core';
import { compileToIR, DslError, formatDiagnostic, loadAllowedUses, parse, taskOf, type Diagnostic, type SpecAST, type TrainingSpec } from '@cellstack/dsl';
import type { Task } from '@cellstack/tasks';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { CliError, EXIT } from './errors.js';
import { checkFit } from './fit.js';
import { CELL_PACKAGES, preloadedOf } from './runtime.js';
import { makeTask, type TaskRef } from './task-ref.js';

/** Read a spec (or any user) file; a missing file is a one-line error. */
export async function readUserFile(file: string, what = 'spec'): Promise<string> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new CliError(`cannot read ${what} '${file}': ${why}`, EXIT.input);
  }
  // NUL bytes or invalid UTF-8: an image or other binary given by mistake.
  if (text.includes('\0') || text.includes('\ufffd')) throw new CliError(`cannot read ${what} '${file}': it is not a text file`, EXIT.input);
  return text;
}

/** Diagnostics as CLI output: warnings go to stderr, errors become a CliError. */
export function dslFailure(file: string, diagnostics: Diagnostic[]): CliError {
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  return new CliError(`${file}: ${errors} error${errors === 1 ? '' : 's'}`, EXIT.input, diagnostics.map(formatDiagnostic));
}

export function printWarnings(diagnostics: Diagnostic[]) {
  for (const d of diagnostics) if (d.severity !== 'error') process.stderr.write(`${formatDiagnostic(d)}\n`);
}

/**
 * The task a spec's train block names, read from the syntax tree (before compiling:
 * the task's data fixes the model's input shape), with its source position.
 */
function taskOfSpec(ast: SpecAST, file: string): { ref: TaskRef; where: string } | undefined {
  const t = taskOf(ast);
  if (!t) return undefined;
  const options = { ...t.options };
  // A data file named in a spec is relative to the spec, wherever the command runs.
  if (typeof options.file === 'string' && !path.isAbsolute(options.file)) options.file = path.join(path.dirname(file), options.file);
  return { ref: { name: t.name, options }, where: `${file}:${t.span.line}:${t.span.column}: ` };
}

/**
 * The trust rules of `use` for every command: the packages the user allows (--allow,
 * and the cellstack config of the project the command runs in — never a config that
 * came with the spec) plus the first-party cells, which the CLI has registered already.
 */
function useOptions(runtime: Runtime, allow: string[] | undefined) {
  return { allow: [...CELL_PACKAGES, ...(allow ?? [])], preloaded: preloadedOf(runtime), project: process.cwd() };
}

/**
 * Register the allowed `use` packages of a saved spec (a run folder's spec.rnn), so its
 * model loads: a third-party cell's layer class exists only once its package is imported.
 */
export async function loadSpecPlugins(file: string, runtime: Runtime, allow: string[] | undefined): Promise<void> {
  const source = await readUserFile(file);
  const { ast } = parse(source, { file });
  if (!ast?.uses.length) return;
  const diagnostics = await loadAllowedUses(ast, { runtime, file, ...useOptions(runtime, allow) });
  if (diagnostics.some((d) => d.severity === 'error')) throw dslFailure(file, diagnostics);
}

/** Float32 activations a training step keeps, per example and layer width, per time step (gates, states, their gradients). */
const BYTES_PER_ACTIVATION = 4 * 8;
/** The wasm backend's heap: everything a step allocates must fit in it. */
export const WASM_HEAP_BYTES = 4 * 1024 ** 3;

/**
 * Refuse a training run whose activations cannot fit the wasm heap, before its first
 * step: sequence length × batch × the model's layer widths, with an allowance for the
 * gates and gradients each step keeps. A rough bound, said as one.
 */
export function checkHeap(model: LayersModel, task: Task, batch: number, where: string): void {
  const T = task.inputShape[0];
  if (T === null) return;
  const widths = model.layers.reduce((a, l) => {
    const shape = l.outputShape as Array<number | null>;
    return a + (shape.at(-1) ?? 0);
  }, 0);
  const bytes = T * batch * widths * BYTES_PER_ACTIVATION;
  if (bytes > WASM_HEAP_BYTES) {
    const gib = (n: number) => `${(n / 1024 ** 3).toFixed(1)} GiB`;
    const most = Math.floor(WASM_HEAP_BYTES / (T * widths * BYTES_PER_ACTIVATION));
    const fits = most >= 1 ? `the largest batch that fits is ${most}` : `even batch 1 does not fit; the longest sequence that does is ${Math.floor(WASM_HEAP_BYTES / (widths * BYTES_PER_ACTIVATION))}`;
    throw new CliError(`${where}error: training needs about ${gib(bytes)} of activations (sequence ${T} × batch ${batch} × layer widths ${widths}), over the ${gib(WASM_HEAP_BYTES)} wasm heap; ${fits}`, EXIT.input, ['  hint: lower the batch (--batch), the sequence length or the layer sizes']);
  }
}

export interface CompiledSpec {
  file: string;
  source: string;
  ir: ModelIR;
  model?: LayersModel;
  training: TrainingSpec;
  task?: Task;
  taskRef?: TaskRef;
  fromLogits: boolean;
  /** The seed the weights were initialised with. */
  seed: number;
  diagnostics: Diagnostic[];
}

export interface SpecOptions {
  runtime: Runtime;
  /** The task to train on (from --task); else the spec's train block names it. */
  task?: TaskRef;
  /** Build the model (train, summary); false only compiles to IR. */
  build?: boolean;
  /** Packages allowed for `use` besides the first-party cells. */
  allow?: string[];
  /** Fail when neither the flag nor the train block names a task. */
  requireTask?: boolean;
  /** Seed of the weights (and, for training, the data): overrides the train block's `seed`. */
  seed?: number;
  /** Parameter budget (--max-params; default the core's LIMITS.maxParams). */
  maxParams?: number;
}

/** The seed when neither a flag nor the train block gives one. */
export const DEFAULT_SEED = 1;

/**
 * Compile a spec for a task: the task (flag, else train block) fixes the input shape,
 * the DSL compiles and checks the model, and the head is checked against the task.
 */
export async function compileSpec(file: string, opts: SpecOptions): Promise<CompiledSpec> {
  const source = await readUserFile(file);
  const parsed = parse(source, { file });
  const fromSource = opts.task || !parsed.ast ? undefined : taskOfSpec(parsed.ast, file);
  const taskRef = opts.task ?? fromSource?.ref;
  if (!taskRef && opts.requireTask) {
    throw new CliError(`${file}: no task to train on`, EXIT.usage, ["  hint: add 'task: copy(lag: 100)' to the spec's train { … } block, or pass --task copy"]);
  }
  let task: Task | undefined;
  if (taskRef) task = makeTask(taskRef, fromSource?.where ?? '');
  const budget = opts.maxParams !== undefined ? { maxParams: opts.maxParams } : {};
  const dslOpts = { runtime: opts.runtime, file, parsed, ...(task ? { input: task.inputShape } : {}), ...useOptions(opts.runtime, opts.allow), ...budget };
  let result: { ir: ModelIR; training?: TrainingSpec; diagnostics: Diagnostic[] };
  try {
    result = await compileToIR(source, dslOpts);
  } catch (e) {
    if (e instanceof DslError) throw dslFailure(file, e.diagnostics);
    throw e;
  }
  printWarnings(result.diagnostics);
  const training = result.training ?? {};
  const seed = opts.seed ?? training.seed ?? DEFAULT_SEED;
  const ir = { ...result.ir, seed };
  if (opts.build === false) return { file, source, ir, training, task, taskRef, fromLogits: false, seed, diagnostics: result.diagnostics };
  let model: LayersModel;
  try {
    model = opts.runtime.build(ir, budget);
  } catch (e) {
    throw new CliError(`${file}: error: could not build the model: ${e instanceof CellstackError ? e.message : (e as Error).message}`, EXIT.input);
  }
  let fromLogits = false;
  if (task) {
    try {
      fromLogits = checkFit(model, ir, task, `${file}: `).fromLogits;
    } catch (e) {
      model.dispose();
      throw e;
    }
  }
  return { file, source, ir, model, training, task, taskRef, fromLogits, seed, diagnostics: result.diagnostics };
}
