import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { ModelIR, Runtime } from '@cellstack/core';
import { CellstackError } from '@cellstack/core';
import { compileToIR, DslError, formatDiagnostic, parse, type Diagnostic, type TrainingSpec } from '@cellstack/dsl';
import type { Task } from '@cellstack/tasks';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { CliError, EXIT } from './errors.js';
import { checkFit } from './fit.js';
import { CELL_PACKAGES } from './runtime.js';
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

interface AstValue {
  kind: string;
  name?: string;
  value?: unknown;
  items?: AstValue[];
  args?: Array<{ name?: string; value: AstValue }>;
  span?: { line: number; column: number };
}

const plain = (v: AstValue): unknown => (v.kind === 'ident' ? v.name : v.kind === 'null' ? null : v.kind === 'array' ? v.items!.map(plain) : v.value);

/**
 * The task a spec's train block names, read from the syntax tree (before compiling:
 * the task's data fixes the model's input shape), with its source position.
 */
export function taskOfSource(source: string, file: string): { ref: TaskRef; where: string } | undefined {
  const { ast } = parse(source, { file });
  const entries = (ast as { training?: { entries: Array<{ key: string; value: AstValue }> } } | undefined)?.training?.entries ?? [];
  const v = entries.find((e) => e.key === 'task')?.value;
  if (!v || (v.kind !== 'ident' && v.kind !== 'call') || !v.name) return undefined;
  const options = Object.fromEntries((v.args ?? []).filter((a) => a.name).map((a) => [a.name!, plain(a.value)]));
  // A data file named in a spec is relative to the spec, wherever the command runs.
  if (typeof options.file === 'string' && !path.isAbsolute(options.file)) options.file = path.join(path.dirname(file), options.file);
  return { ref: { name: v.name, options }, where: v.span ? `${file}:${v.span.line}:${v.span.column}: ` : `${file}: ` };
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
}

/** The seed when neither a flag nor the train block gives one. */
export const DEFAULT_SEED = 1;

/**
 * Compile a spec for a task: the task (flag, else train block) fixes the input shape,
 * the DSL compiles and checks the model, and the head is checked against the task.
 */
export async function compileSpec(file: string, opts: SpecOptions): Promise<CompiledSpec> {
  const source = await readUserFile(file);
  const fromSource = opts.task ? undefined : taskOfSource(source, file);
  const taskRef = opts.task ?? fromSource?.ref;
  if (!taskRef && opts.requireTask) {
    throw new CliError(`${file}: no task to train on`, EXIT.usage, ["  hint: add 'task: copy(lag: 100)' to the spec's train { … } block, or pass --task copy"]);
  }
  let task: Task | undefined;
  if (taskRef) task = makeTask(taskRef, fromSource?.where ?? '');
  const dslOpts = { runtime: opts.runtime, file, ...(task ? { input: task.inputShape } : {}), allow: [...CELL_PACKAGES, ...(opts.allow ?? [])], resolveFrom: path.dirname(path.resolve(file)) };
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
    model = opts.runtime.build(ir);
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
