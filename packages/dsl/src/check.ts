import { CellstackError, clip, closest, layerSchemas, LIMITS, validate, type CellPlugin, type JsonSchema, type LayerIR, type ModelIR, type Runtime } from '@cellstack/core';
import { touches, type Arg, type Span, type SpecAST, type Stage } from './ast.js';
import { DEFAULT_FILE, diagnostic, FILE_START, hasErrors, sortDiagnostics, type Diagnostic } from './diagnostics.js';
import { readTraining, type TrainingSpec } from './training.js';
import { layerOf } from './to-ir.js';
import { plainValue, spanAt } from './values.js';

export type InputShape = [number | null, number];

/** Built-in (non-cell) layers: the options each takes positionally, and its schema without `type`. */
export const BUILTINS: Record<string, { positional: string[]; schema: JsonSchema }> = Object.fromEntries(
  Object.entries(layerSchemas).map(([name, s]) => {
    const { type: _type, ...properties } = s.properties as Record<string, JsonSchema>;
    const required = ((s.required as string[] | undefined) ?? []).filter((r) => r !== 'type');
    const positional = { dense: ['units'], dropout: ['rate'], embedding: ['vocab', 'dim'], layerNorm: ['epsilon'], masking: ['value'] }[name] ?? [];
    return [name, { positional, schema: { ...s, properties, required } }];
  }),
);
const POOLING = ['last', 'mean'];
/** Names people reach for when they mean a pooling over time. */
const POOLING_WORDS = new Set(['max', 'min', 'sum', 'first', 'avg', 'average', 'pool', 'maxpool', 'avgpool', 'meanpool', 'final', 'attention', 'flatten']);

export interface Analysis {
  diagnostics: Diagnostic[];
  /** The model IR, when there are no errors. */
  ir?: ModelIR;
  training?: TrainingSpec;
}

export interface CheckOptions {
  runtime: Runtime;
  file?: string;
  /** The data's input shape; needed when the file has no `input` line. */
  input?: InputShape;
  /** Parameter budget of the model (default: the core's LIMITS.maxParams). */
  maxParams?: number;
}

/** One stage after binding: its options as named JSON, with where each came from. */
export interface BoundStage {
  stage: Stage;
  options: Record<string, unknown>;
  where: Map<string, Arg>;
}

/** Merge the file's `input` with the caller's: the features must agree; a known length wins over null. */
function inputShape(ast: SpecAST, given: InputShape | undefined, report: (span: Span, code: string, msg: string, hint?: string) => void): InputShape | undefined {
  const decl = ast.input;
  if (!decl) {
    if (given) return given;
    report(ast.pipeline[0]?.nameSpan ?? FILE_START, 'no-input', 'no input shape: the model needs [timesteps, features]', "add a line such as 'input [784, 1]' (null timesteps for any length), or pass the input shape to the compiler");
    return undefined;
  }
  let ok = true;
  if (decl.timesteps !== null && !(Number.isSafeInteger(decl.timesteps) && decl.timesteps >= 1)) {
    report(decl.timestepsSpan, 'bad-input', `timesteps must be a whole number >= 1 or null (got ${decl.timestepsRaw})`);
    ok = false;
  }
  if (!(Number.isSafeInteger(decl.features) && decl.features >= 1)) {
    report(decl.featuresSpan, 'bad-input', `features must be a whole number >= 1 (got ${decl.featuresRaw})`);
    ok = false;
  }
  if (decl.dtype && !['float32', 'int32'].includes(decl.dtype.name)) {
    report(decl.dtype.span, 'bad-input', `input dtype must be float32 or int32 (got ${decl.dtype.name})`);
  }
  if (!ok) return undefined;
  if (given) {
    const [gt, gf] = given;
    if (gf !== decl.features || (gt !== null && decl.timesteps !== null && gt !== decl.timesteps)) {
      report(decl.span, 'input-mismatch', `this file's input [${decl.timestepsRaw}, ${decl.featuresRaw}] does not match the data's [${gt}, ${gf}]`, `change it to 'input [${gt}, ${gf}]' or remove it`);
      return undefined;
    }
    return [decl.timesteps ?? gt, decl.features];
  }
  return [decl.timesteps, decl.features];
}

/**
 * Bind a stage's arguments to option names: positional ones by the plugin's
 * `positional` list, then named ones. Reports misplaced, surplus and duplicate options
 * and values that are not plain (calls).
 */
function bindArgs(stage: Stage, positional: string[], report: (span: Span, code: string, msg: string, hint?: string) => void): BoundStage {
  // A Map, so `__proto__` or `constructor` is an option name like any other (and then unknown).
  const options = new Map<string, unknown>();
  const where = new Map<string, Arg>();
  const stageName = clip(stage.name);
  let index = 0;
  let sawNamed = false;
  for (const arg of stage.args ?? []) {
    let name = arg.name;
    if (name === undefined) {
      if (sawNamed) {
        report(arg.span, 'positional-after-named', `positional option after a named one in ${stageName}(…)`, 'put positional options first, or name this one');
        continue;
      }
      name = positional[index++];
      if (name === undefined) {
        const takes = positional.length ? `at most ${positional.length} positional option${positional.length > 1 ? 's' : ''} (${positional.join(', ')})` : 'no positional options';
        report(arg.span, 'too-many-positional', `${stageName} takes ${takes}`, 'name the option, e.g. name: value');
        continue;
      }
    } else sawNamed = true;
    if (where.has(name)) {
      report(arg.nameSpan ?? arg.span, 'duplicate-option', `option '${clip(name)}' is given twice`, 'remove one');
      continue;
    }
    const plain = plainValue(arg.value);
    if (!plain.ok) {
      report(plain.span, 'bad-option', `option '${clip(name)}' must be a plain value, not a call '${clip(plain.name)}(…)'`, `write ${clip(name)}: ${clip(plain.name)} for a name`);
      continue;
    }
    options.set(name, plain.value);
    where.set(name, arg);
  }
  return { stage, options: Object.fromEntries(options), where };
}

/** Map an options error (`options.units`, `options.sizes[1]`) back to the source. */
function optionDiagnostics(err: unknown, bound: BoundStage, report: (span: Span, code: string, msg: string, hint?: string) => void): void {
  if (!(err instanceof CellstackError)) {
    report(bound.stage.nameSpan, 'bad-option', `${clip(bound.stage.name)}: ${clip(err instanceof Error ? err.message : String(err), 300)}`);
    return;
  }
  const all = ((err as CellstackError & { all?: CellstackError[] }).all ?? [err]);
  const seen = new Set<string>();
  const stageName = clip(bound.stage.name);
  for (const e of all) {
    if (seen.has(e.path)) continue;
    seen.add(e.path);
    // The path says where (`options.sizes[1]` → that option's value, item 1); the code says what.
    const m = /^options(?:\.([^.[]+))?((?:\[\d+\])*)/.exec(e.path);
    const name = m?.[1];
    const indices = [...(m?.[2] ?? '').matchAll(/\[(\d+)\]/g)].map((x) => Number(x[1]));
    const arg = name ? bound.where.get(name) : undefined;
    const field = clip(e.path.replace(/^options\.?/, ''));
    switch (e.code) {
      case 'unknown-option':
        report(arg?.nameSpan ?? arg?.span ?? bound.stage.nameSpan, 'unknown-option', `${stageName}: ${e.detail}`, e.hint);
        break;
      case 'missing-option':
        report(bound.stage.nameSpan, 'missing-option', `${stageName} option '${field}' ${e.detail}`, e.hint ?? `write ${stageName}(${field}: …)`);
        break;
      default: {
        const span = arg ? spanAt(arg, indices) : bound.stage.nameSpan;
        report(span, 'bad-option', field ? `${stageName} option '${field}' ${e.detail}` : `${stageName}: ${e.detail}`, e.hint);
      }
    }
  }
}

const MERGES = ['concat', 'sum', 'mean', 'mul'];

/**
 * `bidirectional(CELL(…), merge: m) xN`: the wrapped cell as a stage of its own (the
 * repeat applies to it) and the merge mode; undefined when the wrapper is malformed.
 */
function unwrapBidirectional(stage: Stage, report: (span: Span, code: string, msg: string, hint?: string) => void): { inner: Stage; merge?: string } | undefined {
  const usage = 'write bidirectional(CELL(…)) or bidirectional(CELL(…), merge: concat | sum | mean | mul)';
  const [first, ...rest] = stage.args ?? [];
  const cell = first && first.name === undefined ? first.value : undefined;
  if (!cell || (cell.kind !== 'call' && cell.kind !== 'ident')) {
    report(first?.span ?? stage.nameSpan, 'bad-bidirectional', "'bidirectional' wraps one cell, given first", usage);
    return undefined;
  }
  let merge: string | undefined;
  for (const arg of rest) {
    const value = arg.value.kind === 'ident' ? arg.value.name : arg.value.kind === 'string' ? arg.value.value : undefined;
    if (arg.name !== 'merge') report(arg.nameSpan ?? arg.span, 'bad-bidirectional', `'bidirectional' takes only 'merge' after its cell (got ${arg.name ? `'${arg.name}'` : 'a second positional value'})`, usage);
    else if (merge !== undefined) report(arg.nameSpan ?? arg.span, 'duplicate-option', "option 'merge' is given twice", 'remove one');
    else if (value === undefined || !MERGES.includes(value)) report(arg.value.span, 'bad-option', `bidirectional option 'merge' must be one of ${MERGES.join(', ')}`, 'concat joins both directions (twice the units); sum, mean and mul combine them elementwise');
    else merge = value;
  }
  const nameSpan = cell.kind === 'call' ? cell.nameSpan : cell.span;
  const inner: Stage = { name: cell.name, nameSpan, ...(cell.kind === 'call' ? { args: cell.args } : {}), ...(stage.repeat ? { repeat: stage.repeat } : {}), span: stage.span };
  return { inner, ...(merge ? { merge } : {}) };
}

function unknownName(stage: Stage, cells: string[], report: (span: Span, code: string, msg: string, hint?: string) => void): void {
  const name = clip(stage.name);
  const builtins = Object.keys(BUILTINS);
  // Lower-case names look like layers (`lst` → last, not LSTM); others like cells.
  const guess = closest(stage.name, /^[a-z]/.test(name) ? [...builtins, ...cells] : [...cells, ...builtins]);
  const list = `registered cells: ${cells.join(', ') || '(none)'}`;
  if (POOLING_WORDS.has(stage.name.toLowerCase()) || (guess && POOLING.includes(guess))) {
    report(stage.nameSpan, 'unknown-pooling', `unknown pooling '${name}'; a sequence is pooled over time with 'last' or 'mean'`, guess && POOLING.includes(guess) ? `did you mean ${guess}?` : "use 'last' (the final step) or 'mean' (the average over steps)");
  } else if (guess && builtins.includes(guess) && !cells.includes(guess)) {
    report(stage.nameSpan, 'unknown-layer', `unknown layer '${name}'; layers: ${builtins.join(', ')}; ${list}`, `did you mean ${guess}?`);
  } else {
    report(stage.nameSpan, 'unknown-cell', `unknown cell '${name}'; ${list}`, guess ? `did you mean ${guess}?` : "load the cell's package with use \"<package>\" (and allow it)");
  }
}

/**
 * The semantic pass: names, options (each cell's JSON schema through its plugin),
 * repeat counts, layer order and shapes, and the train block. Produces the IR when
 * there are no errors, so toIR and check can never disagree.
 */
export function analyze(ast: SpecAST, opts: CheckOptions): Analysis {
  const file = opts.file ?? ast.file ?? DEFAULT_FILE;
  const rt = opts.runtime;
  const out: Diagnostic[] = [];
  // Nothing is said about text that did not lex or parse: the syntax error says it already.
  const intact = (span: Span) => !ast.damaged.some((d) => touches(d, span));
  const report = (span: Span, code: string, message: string, hint?: string) => intact(span) && out.push(diagnostic(file, span, code, message, hint));
  const warn = (span: Span, code: string, message: string, hint?: string) => intact(span) && out.push(diagnostic(file, span, code, message, hint, 'warning'));

  const training = ast.training ? readTraining(ast.training, report) : undefined;
  if (ast.pipeline.length === 0) {
    report(FILE_START, 'no-pipeline', 'no model: the file has no pipeline', "add one, e.g. 'LSTM(64) -> last -> dense(10)'");
    return { diagnostics: sortDiagnostics(out) };
  }
  const shape = inputShape(ast, opts.input, report);

  // Shape tracking stops (known = false) once a layer's output size cannot be known.
  let [T, F] = shape ?? [null, 0];
  let known = shape !== undefined;
  let pooled: Stage | undefined;
  let seenCell = false;
  const layers: LayerIR[] = [];

  ast.pipeline.forEach((outer, i) => {
    let stage = outer;
    let bidirectional: { merge?: string } | undefined;
    if (outer.name === 'bidirectional') {
      const unwrapped = unwrapBidirectional(outer, report);
      if (!unwrapped) {
        known = false;
        layers.push({ cell: 'bidirectional' });
        return;
      }
      stage = unwrapped.inner;
      bidirectional = unwrapped.merge ? { merge: unwrapped.merge } : {};
      if (BUILTINS[stage.name]) {
        report(stage.nameSpan, 'bad-bidirectional', `'bidirectional' wraps a cell, not the layer '${stage.name}'`, 'write e.g. bidirectional(LSTM(64))');
        layers.push({ cell: 'bidirectional' });
        return;
      }
    }
    const repeat = stage.repeat;
    const repeatOk = repeat !== undefined && Number.isInteger(repeat.value) && repeat.value >= 1 && repeat.value <= LIMITS.maxRepeat;
    if (repeat && !repeatOk) {
      report(repeat.span, 'bad-repeat', `repeat count must be a whole number from 1 to ${LIMITS.maxRepeat} (got ${clip(repeat.raw)})`, `the number of stacked copies, e.g. ${clip(stage.name)} x2`);
    }
    // Own keys only: a stage named `constructor` or `toString` is an unknown cell, not Object.prototype's.
    const builtin = Object.hasOwn(BUILTINS, stage.name) ? BUILTINS[stage.name] : undefined;
    if (builtin) {
      if (repeat) report(repeat.span, 'bad-repeat', `only cells repeat; '${stage.name}' cannot take ${repeat.raw}`, `write '-> ${stage.name}' as often as you need it`);
      const bound = bindArgs(stage, builtin.positional, report);
      // `dense` without units outputs as many features as the model's input has (predict/copy the input).
      if (stage.name === 'dense' && !Object.hasOwn(bound.options, 'units')) bound.options.units = shape ? shape[1] : 1;
      try {
        validate(builtin.schema, bound.options, 'options');
      } catch (e) {
        optionDiagnostics(e, bound, report);
      }
      layers.push(layerOf(bound, undefined));
      switch (stage.name) {
        case 'masking':
          if (pooled) report(stage.nameSpan, 'masking-after-pooling', `'masking' marks padded time steps, but '${pooled.name}' (line ${pooled.nameSpan.line}) already pooled over time`, 'put it before the first cell');
          return;
        case 'last':
        case 'mean':
          if (pooled) report(stage.nameSpan, 'pooling-twice', `'${stage.name}' pools over time, but '${pooled.name}' (line ${pooled.nameSpan.line}) already did`, 'pool once, after the last cell');
          pooled = stage;
          T = null;
          return;
        case 'dense':
          if (!pooled && !seenCell) {
            warn(stage.nameSpan, 'dense-before-cell', "'dense' before any cell acts on each time step of the raw input", "if you meant a classifier, put it after the cells and a pooling: '… -> last -> dense(…)'");
          }
          if (typeof bound.options.units === 'number') F = bound.options.units;
          else known = false;
          return;
        case 'embedding':
          if (i !== 0) report(stage.nameSpan, 'embedding-not-first', 'an embedding must be the first layer', 'move it to the start of the pipeline');
          else if (known && F !== 1) report(ast.input?.featuresSpan ?? stage.nameSpan, 'embedding-input', `an embedding reads one token id per step: the input must be [timesteps, 1] (got ${F} features)`);
          if (typeof bound.options.dim === 'number') F = bound.options.dim;
          else known = false;
          return;
        default:
          return;
      }
    }

    const plugin: CellPlugin | undefined = rt.has(stage.name) ? rt.cell(stage.name) : undefined;
    if (!plugin) {
      unknownName(stage, rt.cells().map((c) => c.name), report);
      known = false;
      seenCell = true; // it may well be a cell: no advice about what comes after it
      return;
    }
    seenCell = true;
    const bound = bindArgs(stage, plugin.positional ?? [], report);
    if (pooled) {
      report(stage.nameSpan, 'cell-after-pooling', `${stage.name} needs a sequence, but '${pooled.name}' (line ${pooled.nameSpan.line}) already pooled over time`, 'move the pooling after the last cell');
    }
    const layer = layerOf(bound, repeatOk ? repeat.value : undefined);
    layers.push(bidirectional ? { ...layer, bidirectional } as LayerIR : layer);
    const ctx = known ? { inputSize: F, timesteps: T } : undefined;
    try {
      const full = plugin.resolveOptions(bound.options, 'options', ctx);
      if (!ctx) return;
      const outSize = plugin.create(full, ctx).outputSize * (bidirectional && (bidirectional.merge ?? 'concat') === 'concat' ? 2 : 1);
      // Later copies of a repeated cell see its own output size.
      if (repeatOk && repeat.value > 1 && outSize !== F) plugin.resolveOptions(bound.options, 'options', { inputSize: outSize, timesteps: T });
      F = outSize;
    } catch (e) {
      optionDiagnostics(e, bound, report);
      known = false;
    }
  });

  if (hasErrors(out) || !shape || ast.damaged.length) return { diagnostics: sortDiagnostics(out), training };
  const ir: ModelIR = { input: { shape }, layers };
  if (ast.input?.dtype) ir.input.dtype = ast.input.dtype.name as 'float32' | 'int32';
  if (training?.seed !== undefined) ir.seed = training.seed;
  // The runtime's own resolution is the final word; map anything it still finds back to the source.
  try {
    rt.resolve(ir, opts.maxParams !== undefined ? { maxParams: opts.maxParams } : {});
  } catch (e) {
    const path = e instanceof CellstackError ? e.path : '';
    const m = /^layers\[(\d+)\]/.exec(path);
    const stage = m ? ast.pipeline[Number(m[1])] : undefined;
    const message = e instanceof CellstackError ? e.detail : String(e);
    const code = e instanceof CellstackError && e.code === 'too-large' ? 'too-large' : 'invalid-model';
    report(stage?.nameSpan ?? ast.input?.span ?? FILE_START, code, message, e instanceof CellstackError ? e.hint : undefined);
    return { diagnostics: sortDiagnostics(out), training };
  }
  return { diagnostics: sortDiagnostics(out), ir, training };
}

/** Semantic diagnostics of a parsed file (errors and warnings), given the registered cells. */
export function check(ast: SpecAST, opts: CheckOptions): Diagnostic[] {
  return analyze(ast, opts).diagnostics;
}
