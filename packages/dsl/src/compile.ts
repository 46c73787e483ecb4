import * as path from 'node:path';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { CellstackError, type ModelIR, type Runtime } from '@cellstack/core';
import { analyze, type InputShape } from './check.js';
import { DEFAULT_FILE, diagnostic, DslError, FILE_START, hasErrors, sortDiagnostics, type Diagnostic } from './diagnostics.js';
import { loadUses, readAllowList } from './plugins.js';
import type { TrainingSpec } from './training.js';
import { parse } from './visitor.js';

export interface CompileOptions {
  runtime: Runtime;
  /** Shown in diagnostics; its folder is where `use` packages and the allow list are found. */
  file?: string;
  /** The data's input shape; needed when the file has no `input` line. */
  input?: InputShape;
  /** Packages allowed for `use`, besides the project's cellstack config. */
  allow?: string[];
  /** Where to resolve `use` packages and look for the config (default: the file's folder, else the working directory). */
  resolveFrom?: string;
}

/** Source → IR (+ training spec): parse, load allowed `use` packages, check. Throws DslError on any error. */
export async function compileToIR(source: string, opts: CompileOptions): Promise<{ ir: ModelIR; training?: TrainingSpec; diagnostics: Diagnostic[] }> {
  const file = opts.file ?? DEFAULT_FILE;
  const parsed = parse(source, { file });
  const diagnostics = [...parsed.diagnostics];
  const ast = parsed.ast!;
  if (ast.uses.length) {
    const from = opts.resolveFrom ?? (opts.file ? path.dirname(path.resolve(opts.file)) : process.cwd());
    const allow = [...(opts.allow ?? [])];
    try {
      allow.push(...(await readAllowList(from)));
    } catch (e) {
      if (!(e instanceof DslError)) throw e;
      diagnostics.push(...e.diagnostics);
    }
    diagnostics.push(...(await loadUses(ast, { runtime: opts.runtime, allow, file, resolveFrom: from })));
  }
  const analysis = analyze(ast, { runtime: opts.runtime, file, input: opts.input });
  diagnostics.push(...analysis.diagnostics);
  sortDiagnostics(diagnostics);
  if (hasErrors(diagnostics) || !analysis.ir) throw new DslError(diagnostics);
  return { ir: analysis.ir, ...(analysis.training ? { training: analysis.training } : {}), diagnostics };
}

/** Source → a built tf.LayersModel (plus its IR and training spec). Throws DslError on any error. */
export async function compile(source: string, opts: CompileOptions): Promise<{ ir: ModelIR; model: LayersModel; training?: TrainingSpec; diagnostics: Diagnostic[] }> {
  const result = await compileToIR(source, opts);
  try {
    return { ...result, model: opts.runtime.build(result.ir) };
  } catch (e) {
    const message = e instanceof CellstackError ? e.message : `could not build the model: ${(e as Error).message}`;
    throw new DslError([...result.diagnostics, diagnostic(opts.file ?? DEFAULT_FILE, FILE_START, 'build-failed', message)]);
  }
}
