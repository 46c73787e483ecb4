import { clip, closest, layerSchemas, type LayerIR, type ModelIR, type Problem, type Runtime } from '@cellstack/core';
import { touches, type Arg, type Span, type SpecAST, type Stage } from './ast.js';
import { DEFAULT_FILE, diagnostic, FILE_START, hasErrors, sortDiagnostics, type Diagnostic } from './diagnostics.js';
import { readTraining, type TrainingSpec } from './training.js';
import { layerOf } from './to-ir.js';
import { plainValue, spanAt } from './values.js';

export type InputShape = [number | null, number];

/** Built-in (non-cell) layers: the options each takes positionally, and its option names (the core has their rules). */
export const BUILTINS: Record<string, { positional: string[]; options: string[] }> = Object.fromEntries(
  Object.entries(layerSchemas).map(([name, s]) => {
    const options = Object.keys(s.properties as object).filter((k) => k !== 'type');
    const positional = { dense: ['units'], dropout: ['rate'], embedding: ['vocab', 'dim'], layerNorm: ['epsilon'], masking: ['value'] }[name] ?? [];
    return [name, { positional, options }];
  }),
);
const POOLING = ['last', 'mean'];
type Report = (span: Span, code: string, message: string, hint?: string) => void;
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
  /** Options left out for a problem already reported (a call as a value): the core's word on them is moot. */
  dropped: Set<string>;
}

/**
 * The model's input: the file's, checked against the caller's (the features must agree; a
 * known length wins over null), else the caller's. Its values are the core's to check.
 */
function inputOf(ast: SpecAST, given: InputShape | undefined, report: Report): ModelIR['input'] | undefined {
  const decl = ast.input;
  if (!decl) {
    if (given) return { shape: given };
    report(ast.pipeline[0]?.nameSpan ?? FILE_START, 'no-input', 'no input shape: the model needs [timesteps, features]', "add a line such as 'input [784, 1]' (null timesteps for any length), or pass the input shape to the compiler");
    return undefined;
  }
  const dtype = decl.dtype ? { dtype: decl.dtype.name as 'float32' } : {};
  if (!given) return { shape: [decl.timesteps, decl.features], ...dtype };
  const [gt, gf] = given;
  if (gf !== decl.features || (gt !== null && decl.timesteps !== null && gt !== decl.timesteps)) {
    report(decl.span, 'input-mismatch', `this file's input [${decl.timestepsRaw}, ${decl.featuresRaw}] does not match the data's [${gt}, ${gf}]`, `change it to 'input [${gt}, ${gf}]' or remove it`);
  }
  return { shape: [decl.timesteps ?? gt, decl.features], ...dtype };
}

/**
 * Bind a stage's arguments to option names: positional ones by the plugin's
 * `positional` list, then named ones. Reports misplaced, surplus and duplicate options
 * and values that are not plain (calls).
 */
function bindArgs(stage: Stage, positional: string[], report: Report): BoundStage {
  // A Map, so `__proto__` or `constructor` is an option name like any other (and then unknown).
  const options = new Map<string, unknown>();
  const where = new Map<string, Arg>();
  const dropped = new Set<string>();
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
      dropped.add(name);
      continue;
    }
    options.set(name, plain.value);
    where.set(name, arg);
  }
  return { stage, options: Object.fromEntries(options), where, dropped };
}

/**
 * `bidirectional(CELL(…), merge: m) xN`: the wrapped cell as a stage of its own (the
 * repeat applies to it) and the merge mode as written (the core checks it); undefined
 * when the wrapper is malformed.
 */
function unwrapBidirectional(stage: Stage, report: Report): { inner: Stage; merge?: Arg } | undefined {
  const usage = 'write bidirectional(CELL(…)) or bidirectional(CELL(…), merge: concat | sum | mean | mul)';
  const [first, ...rest] = stage.args ?? [];
  const cell = first && first.name === undefined ? first.value : undefined;
  if (!cell || (cell.kind !== 'call' && cell.kind !== 'ident')) {
    report(first?.span ?? stage.nameSpan, 'bad-bidirectional', "'bidirectional' wraps one cell, given first", usage);
    return undefined;
  }
  let merge: Arg | undefined;
  for (const arg of rest) {
    if (arg.name !== 'merge') report(arg.nameSpan ?? arg.span, 'bad-bidirectional', `'bidirectional' takes only 'merge' after its cell (got ${arg.name ? `'${clip(arg.name)}'` : 'a second positional value'})`, usage);
    else if (merge !== undefined) report(arg.nameSpan ?? arg.span, 'duplicate-option', "option 'merge' is given twice", 'remove one');
    else merge = arg;
  }
  const nameSpan = cell.kind === 'call' ? cell.nameSpan : cell.span;
  const inner: Stage = { name: cell.name, nameSpan, ...(cell.kind === 'call' ? { args: cell.args } : {}), ...(stage.repeat ? { repeat: stage.repeat } : {}), span: stage.span };
  return { inner, ...(merge ? { merge } : {}) };
}

function unknownName(stage: Stage, cells: string[], report: Report): void {
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

/** One pipeline stage as the checker sees it: the stage (unwrapped), its bound options, its `merge`. */
interface StageInfo {
  stage: Stage;
  bound?: BoundStage;
  merge?: Arg;
  /** A malformed stage, reported already: nothing the core says about it is news. */
  reported?: boolean;
}

/** `options.sizes[1]` → the option's name and the indices into its value. */
function optionPath(rest: string): { name?: string; indices: number[]; field: string } {
  const m = /^(?:\.([^.[]+))?((?:\[\d+\])*)/.exec(rest);
  return { name: m?.[1], indices: [...(m?.[2] ?? '').matchAll(/\[(\d+)\]/g)].map((x) => Number(x[1])), field: clip(rest.replace(/^\./, '')) };
}

/**
 * Report one of the core's problems at its place in the source: its path (`layers[2].options.units`,
 * `layers[2]`, `input.shape[1]`) names the node; its code says what, and the DSL's code follows from both.
 */
function reportProblem(p: Problem, ast: SpecAST, stages: StageInfo[], cells: string[], report: Report, intact: (span: Span) => boolean): void {
  const lineOf = (path: string | undefined) => {
    const i = /^layers\[(\d+)\]$/.exec(path ?? '')?.[1];
    const at = i === undefined ? undefined : stages[Number(i)]?.stage.nameSpan;
    return at ? ` on line ${at.line}` : '';
  };
  const input = /^input(.*)$/.exec(p.path);
  if (input) {
    const decl = ast.input;
    if (p.code === 'embedding-input') return report(decl?.featuresSpan ?? stages[0].stage.nameSpan, p.code, p.message, p.hint);
    if (!decl) return report(stages[0].stage.nameSpan, 'bad-input', `the input ${p.message}`, p.hint);
    const part = { '.shape[0]': ['timesteps', decl.timestepsSpan], '.shape[1]': ['features', decl.featuresSpan], '.dtype': ['input dtype', decl.dtype?.span] } as const;
    const [what, span] = Object.hasOwn(part, input[1]) ? part[input[1] as keyof typeof part] : ['input', decl.span];
    return report(span ?? decl.span, 'bad-input', `${what} ${p.message}`, p.hint);
  }
  const layer = /^layers\[(\d+)\](.*)$/.exec(p.path);
  const info = layer ? stages[Number(layer[1])] : undefined;
  if (!layer || !info) {
    // The whole model (the layer count) or its seed: at the pipeline's start.
    if (ast.damaged.length) return;
    return report(stages[0].stage.nameSpan, p.code === 'too-large' ? 'too-large' : 'invalid-model', p.message, p.hint);
  }
  if (info.reported) return;
  const { stage, bound } = info;
  const stageName = clip(stage.name);
  const rest = layer[2];
  if (p.code === 'unknown-cell') return unknownName(stage, cells, report);
  if (rest === '.repeat') return report(stage.repeat?.span ?? stage.nameSpan, 'bad-repeat', `repeat count ${p.message}`, p.hint ?? `the number of stacked copies, e.g. ${stageName} x2`);
  if (rest === '.bidirectional.merge') {
    return report(info.merge?.value.span ?? stage.nameSpan, 'bad-option', `bidirectional option 'merge' ${p.message}`, 'concat joins both directions (twice the units); sum, mean and mul combine them elementwise');
  }
  // A cell's options sit under `.options`; a built-in layer's on the layer itself.
  const opt = /^(?:\.options(?=$|[.[]))?(.*)$/.exec(rest)![1];
  if (rest === '') {
    // Sizes and order read from a stage with a lexical or syntax error may be the error's own doing.
    if (!intact(stage.span)) return;
    const code = p.code === 'bad-value' || p.code === 'unknown-option' || p.code === 'missing-option' ? 'invalid-model' : p.code;
    return report(stage.nameSpan, code, `${p.message}${lineOf(p.related)}`, p.hint);
  }
  const { name, indices, field } = optionPath(opt);
  if (name !== undefined && bound?.dropped.has(name)) return;
  const arg = name === undefined ? undefined : bound?.where.get(name);
  switch (p.code) {
    case 'unknown-option':
      return report(arg?.nameSpan ?? arg?.span ?? stage.nameSpan, 'unknown-option', `${stageName}: ${p.message}`, p.hint);
    case 'missing-option':
      return report(stage.nameSpan, 'missing-option', `${stageName} option '${field}' ${p.message}`, p.hint ?? `write ${stageName}(${field}: …)`);
    default:
      return report(arg ? spanAt(arg, indices) : stage.nameSpan, 'bad-option', field ? `${stageName} option '${field}' ${p.message}` : `${stageName}: ${p.message}`, p.hint);
  }
}

/**
 * The semantic pass: binds each stage's options to names, builds the model IR and has the
 * core check it (see checkIR: names, options, repeat counts, layer order and shapes, the
 * limits — one source of those rules), then maps each problem back to its source node.
 * Only what needs the source is checked here: binding, the bidirectional wrapper, the
 * train block. Produces the IR when there are no errors, so toIR and check never disagree.
 */
export function analyze(ast: SpecAST, opts: CheckOptions): Analysis {
  const file = opts.file ?? ast.file ?? DEFAULT_FILE;
  const rt = opts.runtime;
  const out: Diagnostic[] = [];
  // Nothing is said about text that did not lex or parse: the syntax error says it already.
  const intact = (span: Span) => !ast.damaged.some((d) => touches(d, span));
  const report: Report = (span, code, message, hint) => intact(span) && out.push(diagnostic(file, span, code, message, hint));
  const warn: Report = (span, code, message, hint) => intact(span) && out.push(diagnostic(file, span, code, message, hint, 'warning'));

  const training = ast.training ? readTraining(ast.training, report) : undefined;
  if (ast.pipeline.length === 0) {
    report(FILE_START, 'no-pipeline', 'no model: the file has no pipeline', "add one, e.g. 'LSTM(64) -> last -> dense(10)'");
    return { diagnostics: sortDiagnostics(out) };
  }
  const input = inputOf(ast, opts.input, report);
  const features = input?.shape[1];

  const stages: StageInfo[] = [];
  const layers: LayerIR[] = [];
  // A placeholder no runtime registers: the core loses the shape there and says nothing we show.
  const placeholder = (stage: Stage) => {
    stages.push({ stage, reported: true });
    layers.push({ cell: 'bidirectional' });
  };
  let sequence = true;
  let seenCell = false;
  for (const outer of ast.pipeline) {
    let stage = outer;
    let merge: Arg | undefined;
    if (outer.name === 'bidirectional') {
      const unwrapped = unwrapBidirectional(outer, report);
      if (!unwrapped) {
        placeholder(outer);
        continue;
      }
      stage = unwrapped.inner;
      merge = unwrapped.merge;
      if (Object.hasOwn(BUILTINS, stage.name)) {
        report(stage.nameSpan, 'bad-bidirectional', `'bidirectional' wraps a cell, not the layer '${stage.name}'`, 'write e.g. bidirectional(LSTM(64))');
        placeholder(stage);
        continue;
      }
    }
    const repeat = stage.repeat;
    // Own keys only: a stage named `constructor` or `toString` is an unknown cell, not Object.prototype's.
    const builtin = Object.hasOwn(BUILTINS, stage.name) ? BUILTINS[stage.name] : undefined;
    if (builtin) {
      if (repeat) report(repeat.span, 'bad-repeat', `only cells repeat; '${stage.name}' cannot take ${clip(repeat.raw)}`, `write '-> ${stage.name}' as often as you need it`);
      const bound = bindArgs(stage, builtin.positional, report);
      // `type` names the layer in the IR; as an option it is unknown, as the core would say.
      if (Object.hasOwn(bound.options, 'type')) {
        const arg = bound.where.get('type')!;
        report(arg.nameSpan ?? arg.span, 'unknown-option', `${stage.name}: unknown option 'type'; allowed: ${builtin.options.join(', ')}`);
        delete bound.options.type;
        bound.dropped.add('type');
      }
      // `dense` without units outputs as many features as the model's input has (predict/copy the input).
      if (stage.name === 'dense' && !Object.hasOwn(bound.options, 'units')) bound.options.units = typeof features === 'number' && Number.isSafeInteger(features) && features >= 1 ? features : 1;
      if (stage.name === 'dense' && sequence && !seenCell) {
        warn(stage.nameSpan, 'dense-before-cell', "'dense' before any cell acts on each time step of the raw input", "if you meant a classifier, put it after the cells and a pooling: '… -> last -> dense(…)'");
      }
      if (POOLING.includes(stage.name)) sequence = false;
      stages.push({ stage, bound });
      layers.push(layerOf(bound, undefined));
      continue;
    }
    seenCell = true; // an unknown name may well be a cell: no advice about what comes after it
    const plugin = rt.has(stage.name) ? rt.cell(stage.name) : undefined;
    // An unknown cell's arguments cannot be bound: the core's unknown-cell is the one report.
    const bound = plugin ? bindArgs(stage, plugin.positional ?? [], report) : undefined;
    stages.push({ stage, ...(bound ? { bound } : {}), ...(merge ? { merge } : {}) });
    const layer = bound ? layerOf(bound, repeat?.value) : ({ cell: stage.name, ...(repeat && repeat.value !== 1 ? { repeat: repeat.value } : {}) } as LayerIR);
    if (outer !== stage) {
      const m = merge && plainValue(merge.value);
      if (m && !m.ok) report(m.span, 'bad-option', `bidirectional option 'merge' must be a plain value, not a call '${clip(m.name)}(…)'`);
      (layer as { bidirectional?: object }).bidirectional = m?.ok ? { merge: m.value } : {};
    }
    layers.push(layer);
  }

  // Without an input the core says 'input is required' (dropped below) and checks the rest all the same.
  const ir = { ...(input ? { input } : {}), layers } as ModelIR;
  if (training?.seed !== undefined) ir.seed = training.seed;
  const problems = rt.check(ir, opts.maxParams !== undefined ? { maxParams: opts.maxParams } : {});
  const cells = rt.cells().map((c) => c.name);
  for (const p of problems) if (input || !/^input(?![^.[])/.test(p.path)) reportProblem(p, ast, stages, cells, report, intact);

  if (hasErrors(out) || !input || ast.damaged.length) return { diagnostics: sortDiagnostics(out), training };
  return { diagnostics: sortDiagnostics(out), ir, training };
}

/** Semantic diagnostics of a parsed file (errors and warnings), given the registered cells. */
export function check(ast: SpecAST, opts: CheckOptions): Diagnostic[] {
  return analyze(ast, opts).diagnostics;
}
