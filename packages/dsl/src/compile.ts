import * as path from 'node:path';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { CellstackError, type ModelIR, type Runtime } from '@cellstack/core';
import { analyze, type InputShape } from './check.js';
import { DEFAULT_FILE, diagnostic, DslError, FILE_START, hasErrors, sortDiagnostics, type Diagnostic } from './diagnostics.js';
import { loadUses, readAllowList } from './plugins.js';
import type { SpecAST } from './ast.js';
import type { TrainingSpec } from './training.js';
import { parse } from './visitor.js';

export interface CompileOptions {
  runtime: Runtime;
  /** Shown in diagnostics; its folder is searched for allowed `use` packages after the project. */
  file?: string;
  /** The data's input shape; needed when the file has no `input` line. */
  input?: InputShape;
  /** Packages allowed for `use`, besides those the project's cellstack config names. */
  allow?: string[];
  /**
   * The user's project (default: the working directory). Its cellstack config — found
   * walking up to the project root — is the only config read for the allow list, and
   * its node_modules are searched first. A config next to the spec is never read: trust
   * comes from the user, not from a folder that came with the spec.
   */
  project?: string;
  /** Where else allowed `use` packages are looked for (default: the file's folder, else the project). */
  resolveFrom?: string;
  /** Packages whose cells the runtime already has: their `use` lines import nothing. */
  preloaded?: readonly string[];
  /** Parameter budget of the model (default: the core's LIMITS.maxParams). */
  maxParams?: number;
  /** parse(source)'s result, when the caller has parsed already (the file is then parsed once). */
  parsed?: { ast?: SpecAST; diagnostics: Diagnostic[] };
}

/**
 * Load a parsed file's `use` packages under the trust rules: allowed are `allow` and
 * what the user's project config names (never a config next to the spec); resolved from
 * the project, then from the spec's folder. Diagnostics, never a throw.
 */
export async function loadAllowedUses(
  ast: SpecAST,
  opts: Pick<CompileOptions, 'runtime' | 'file' | 'allow' | 'project' | 'resolveFrom' | 'preloaded'>,
): Promise<Diagnostic[]> {
  if (!ast.uses.length) return [];
  const project = path.resolve(opts.project ?? process.cwd());
  const from = opts.resolveFrom ?? (opts.file ? path.dirname(path.resolve(opts.file)) : project);
  const allow = [...(opts.allow ?? [])];
  const out: Diagnostic[] = [];
  try {
    allow.push(...(await readAllowList(project)));
  } catch (e) {
    if (!(e instanceof DslError)) throw e;
    out.push(...e.diagnostics);
  }
  out.push(...(await loadUses(ast, { runtime: opts.runtime, allow, file: opts.file ?? DEFAULT_FILE, resolveFrom: from, project, ...(opts.preloaded ? { preloaded: opts.preloaded } : {}) })));
  return out;
}

/** Source → IR (+ training spec): parse, load allowed `use` packages, check. Throws DslError on any error. */
export async function compileToIR(source: string, opts: CompileOptions): Promise<{ ir: ModelIR; training?: TrainingSpec; diagnostics: Diagnostic[] }> {
  const file = opts.file ?? DEFAULT_FILE;
  const parsed = opts.parsed ?? parse(source, { file });
  const diagnostics = [...parsed.diagnostics];
  const ast = parsed.ast!;
  diagnostics.push(...(await loadAllowedUses(ast, opts)));
  const analysis = analyze(ast, { runtime: opts.runtime, file, input: opts.input, ...(opts.maxParams !== undefined ? { maxParams: opts.maxParams } : {}) });
  diagnostics.push(...analysis.diagnostics);
  sortDiagnostics(diagnostics);
  if (hasErrors(diagnostics) || !analysis.ir) throw new DslError(diagnostics);
  return { ir: analysis.ir, ...(analysis.training ? { training: analysis.training } : {}), diagnostics };
}

/** Source → a built tf.LayersModel (plus its IR and training spec). Throws DslError on any error. */
export async function compile(source: string, opts: CompileOptions): Promise<{ ir: ModelIR; model: LayersModel; training?: TrainingSpec; diagnostics: Diagnostic[] }> {
  const result = await compileToIR(source, opts);
  try {
    return { ...result, model: opts.runtime.build(result.ir, opts.maxParams !== undefined ? { maxParams: opts.maxParams } : {}) };
  } catch (e) {
    const message = e instanceof CellstackError ? e.message : `could not build the model: ${(e as Error).message}`;
    throw new DslError([...result.diagnostics, diagnostic(opts.file ?? DEFAULT_FILE, FILE_START, 'build-failed', message)]);
  }
}
