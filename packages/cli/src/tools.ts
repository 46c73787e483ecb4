import { cellPath, writeFileAtomic, type BackendChoice } from '@cellstack/core';
import { DslError, format } from '@cellstack/dsl';
import { describeTaskOptions, tasks } from '@cellstack/tasks';
import { CliError, EXIT, printError, usage } from './errors.js';
import { cliRuntime } from './runtime.js';
import { compileSpec, dslFailure, readUserFile } from './spec.js';
import { parseTaskFlag, showTask } from './task-ref.js';

const out = (line = '') => process.stdout.write(`${line}\n`);
const shape = (s: Array<number | null> | Array<Array<number | null>>) => `[${(s as Array<number | null>).slice(1).map((d) => d ?? 'T').join(', ')}]`;

/** Flags of the commands that compile a spec without training it. */
interface SpecFlags {
  task?: string;
  allow?: string[];
  maxParams?: number;
}

/** `cellstack summary`: layers, output shapes and parameters, like Keras' model.summary(). */
export async function summary(file: string, flags: SpecFlags): Promise<number> {
  const { runtime } = await cliRuntime('cpu');
  const spec = await compileSpec(file, { runtime, task: flags.task ? parseTaskFlag(flags.task) : undefined, allow: flags.allow, maxParams: flags.maxParams });
  const model = spec.model!;
  const rows = [['layer', 'type', 'output shape', 'params', 'mask']];
  // A mask starts at masking / embedding(maskZero) and reaches every layer up to the pooling over time.
  let masked = false;
  for (const layer of model.layers) {
    const type = layer.getClassName().replace(/^cellstack\./, '');
    const config = layer.getConfig() as { maskValue?: number; maskZero?: boolean; bidirectional?: { merge: string } };
    const reads = masked ? 'in' : '';
    let detail = '';
    if (type === 'Masking') detail = ` (value ${config.maskValue})`;
    if (config.bidirectional) detail = ` (bidirectional, ${config.bidirectional.merge})`;
    if (type === 'Masking' || config.maskZero) masked = true;
    if (type === 'Embedding' && config.maskZero) detail = ' (id 0 = padding)';
    const outShape = layer.outputShape as Array<number | null>;
    if (outShape.length < 3) masked = false;
    const mask = type === 'Masking' || config.maskZero ? 'makes' : reads && masked ? 'in → out' : reads;
    rows.push([layer.name, `${type === 'InputLayer' ? 'input' : type}${detail}`, shape(outShape), String(layer.countParams()), mask]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const line = '─'.repeat(widths.reduce((a, b) => a + b + 2, 0));
  out(`${file}${spec.task ? ` (task ${showTask({ name: spec.task.name, options: spec.task.options })})` : ''}`);
  out(line);
  rows.forEach((r, i) => {
    out(r.map((c, j) => (j === 3 ? c.padStart(widths[j]) : c.padEnd(widths[j]))).join('  ').trimEnd());
    if (i === 0) out(line);
  });
  out(line);
  const trainable = model.trainableWeights.reduce((a, w) => a + (w.shape as number[]).reduce((x, y) => x * y, 1), 0);
  out(`total parameters: ${model.countParams()} (trainable ${trainable})`);
  model.dispose();
  return EXIT.ok;
}

/** `cellstack check`: compile each spec (and its task, when it names one); report every diagnostic. */
export async function check(files: string[], flags: SpecFlags): Promise<number> {
  if (!files.length) throw usage('check needs at least one spec file');
  const { runtime } = await cliRuntime('cpu');
  let failed = 0;
  for (const file of files) {
    try {
      const spec = await compileSpec(file, { runtime, task: flags.task ? parseTaskFlag(flags.task) : undefined, allow: flags.allow, maxParams: flags.maxParams });
      out(`ok  ${file}: ${spec.model!.countParams()} parameters${spec.task ? `, fits task ${spec.task.name}` : ''}`);
      spec.model!.dispose();
    } catch (e) {
      if (!(e instanceof CliError) || e.code === EXIT.usage) throw e;
      failed++;
      printError(e);
    }
  }
  if (failed) process.stderr.write(`${failed} of ${files.length} file(s) with errors\n`);
  return failed ? EXIT.input : EXIT.ok;
}

/** `cellstack fmt`: rewrite specs in canonical form (--check: only report; --stdout: print). */
export async function fmt(files: string[], flags: { check?: boolean; stdout?: boolean }): Promise<number> {
  if (!files.length) throw usage('fmt needs at least one spec file');
  let changed = 0;
  let failed = 0;
  for (const file of files) {
    const source = await readUserFile(file);
    let formatted: string;
    try {
      formatted = format(source, { file });
    } catch (e) {
      if (!(e instanceof DslError)) throw e;
      failed++;
      printError(dslFailure(file, e.diagnostics));
      continue;
    }
    if (flags.stdout) process.stdout.write(formatted);
    else if (formatted !== source) {
      changed++;
      if (flags.check) out(`would reformat ${file}`);
      else {
        await writeFileAtomic(file, formatted);
        out(`formatted ${file}`);
      }
    }
  }
  if (failed) return EXIT.input;
  return flags.check && changed ? EXIT.input : EXIT.ok;
}

/** `cellstack cells`: registered cells with their options and defaults (from the schemas). */
export async function cells(name: string | undefined, flags: { json?: boolean; backend?: BackendChoice }): Promise<number> {
  const { runtime, missing } = await cliRuntime(flags.backend ?? 'cpu');
  const list = runtime.cells().filter((c) => !name || c.name.toLowerCase() === name.toLowerCase());
  if (name && !list.length) throw new CliError(`unknown cell '${name}'; registered cells: ${runtime.cells().map((c) => c.name).join(', ')}`, EXIT.input);
  // The whole-sequence path each cell takes with its defaults on this backend (a tiny run decides, as a layer's does).
  const pathOf = (c: (typeof list)[number]): string => {
    if ((c.schema.required ?? []).length) return 'depends on the required options';
    try {
      return cellPath(runtime.cell(c.name));
    } catch (e) {
      return `unknown: ${(e as Error).message.split('\n')[0]}`;
    }
  };
  if (flags.json) {
    out(JSON.stringify(list.map((c) => ({ name: c.name, description: c.description, defaults: c.defaults, positional: c.positional, schema: c.schema, path: pathOf(c) })), null, 2));
    return EXIT.ok;
  }
  for (const c of list) {
    out(`${c.name}${c.positional.length ? `(${c.positional.join(', ')})` : ''} — ${c.description}`);
    out(`  path (defaults, ${runtime.backend.name}): ${pathOf(c)}`);
    const required = new Set(c.schema.required ?? []);
    for (const [opt, s] of Object.entries(c.schema.properties)) {
      const def = required.has(opt) ? 'required' : 'default' in s ? `default ${JSON.stringify(s.default)}` : 'optional';
      out(`  ${opt.padEnd(18)} ${def.padEnd(22)} ${String(s.description ?? '')}`);
    }
    out();
  }
  for (const m of missing) process.stderr.write(`not loaded: ${m.pkg} (${m.reason})\n`);
  return EXIT.ok;
}

/** `cellstack tasks`: the task suite with options and defaults. */
export async function listTasks(name: string | undefined): Promise<number> {
  const entries = Object.values(tasks).filter((e) => !name || e.name === parseTaskFlag(name).name);
  for (const e of entries) {
    out(`${e.name} — ${e.description}`);
    for (const o of describeTaskOptions(e)) {
      const def = o.required ? 'required' : o.default !== undefined ? `default ${JSON.stringify(o.default)}` : 'optional';
      out(`  ${o.name.padEnd(16)} ${def.padEnd(22)} ${o.description} (${o.allowed})`);
    }
    out();
  }
  return EXIT.ok;
}
