import * as path from 'node:path';
import { OPTIMIZERS, type LayerIR, type Runtime } from '@cellstack/core';
import { parse, type Stage } from '@cellstack/dsl';
import { CliError, EXIT, usage } from './errors.js';
import { compileSpec, readUserFile } from './spec.js';
import { makeTask, parseTaskFlag, showTask, type TaskRef } from './task-ref.js';
import type { TrainFlags } from './train.js';

/** A grid value as written: a number, a boolean or a word (a cell option's enum, an optimiser, a task). */
export type GridValue = number | boolean | string;

/** One axis of the grid: a key and its values, the same for every spec or one list per spec (the same length). */
export interface GridAxis {
  key: string;
  values: GridValue[] | Record<string, GridValue[]>;
  /** The key to set in each spec, where it differs from the axis' name (a sweep file's per-spec form). */
  keys?: Record<string, string>;
}

/** The train options a grid key may name, each with its `cellstack train` flag. */
const TRAIN_KEYS: Record<string, 'lr' | 'batch' | 'steps' | 'epochs' | 'clip' | 'optimizer' | 'task'> = {
  lr: 'lr', learningRate: 'lr', batch: 'batch', steps: 'steps', epochs: 'epochs', clip: 'clip', clipNorm: 'clip', optimizer: 'optimizer', task: 'task',
};

/** The settings every run of a sweep shares; grid keys override them per run. */
export type RunFlags = Pick<TrainFlags, 'task' | 'steps' | 'epochs' | 'batch' | 'lr' | 'optimizer' | 'clip' | 'checkpointEvery' | 'valSize' | 'backend' | 'allow'>;

/** One run of a sweep: self-contained (the edited spec text travels with it to any worker). */
export interface SweepRun {
  /** Unique within the sweep; the run folder's name. */
  name: string;
  /** The spec's short name (file name without .rnn). */
  spec: string;
  /** The spec text with the grid's layer options applied. */
  source: string;
  values: Record<string, GridValue>;
  seed: number;
  flags: RunFlags & { seed: number };
  task: string;
  baseline: number;
}

/** Read `--grid 'lr=1e-4,3e-4'`: a key and comma-separated values. */
export function parseGridFlag(text: string): GridAxis {
  const m = /^\s*([A-Za-z0-9_.]+)\s*=(.*)$/s.exec(text);
  if (!m || !m[2].trim()) throw usage(`--grid '${text}': expected key=value,value,… (e.g. --grid 'lr=1e-4,3e-4,1e-3')`);
  return { key: m[1], values: m[2].split(',').map((v) => gridValue(v.trim())) };
}

const gridValue = (v: string): GridValue => (v === 'true' || v === 'false' ? v === 'true' : v !== '' && Number.isFinite(Number(v)) ? Number(v) : v);

/** A value as .rnn text: words bare when they are names (`activation: tanh`), other strings quoted. */
const dslValue = (v: unknown): string =>
  Array.isArray(v) ? `[${v.map(dslValue).join(', ')}]` : typeof v === 'string' ? (/^[A-Za-z_][\w-]*$/.test(v) ? v : JSON.stringify(v)) : String(v);

/** The options of an IR layer (a cell's `options`, a built-in layer's own fields). */
const optionsOf = (layer: LayerIR): Record<string, unknown> => {
  if ('cell' in layer) return { ...(layer.options ?? {}) };
  const { type: _type, ...rest } = layer as unknown as Record<string, unknown>;
  return rest;
};

interface Place {
  where: string;
  /** The pipeline stage whose option it sets, or the train flag. */
  stage?: number;
  train?: (typeof TRAIN_KEYS)[string];
}

/** Where `key` applies in a spec: a train option, or the option of one layer (`units`, `LSTM.units`, `2.units`). */
function placesOf(key: string, stages: Array<{ name: string; line: number; column: number; options: string[] }>): Place[] {
  const dot = key.lastIndexOf('.');
  const qualifier = dot < 0 ? undefined : key.slice(0, dot);
  const option = key.slice(dot + 1);
  const places: Place[] = [];
  if (!qualifier && TRAIN_KEYS[option]) places.push({ where: `train option ${option}`, train: TRAIN_KEYS[option] });
  stages.forEach((s, i) => {
    const named = qualifier === undefined || qualifier === String(i + 1) || qualifier.toLowerCase() === s.name.toLowerCase();
    if (named && s.options.includes(option)) places.push({ where: `${s.name} (${s.line}:${s.column})`, stage: i });
  });
  return places;
}

/** What a grid key resolves to in one spec, checked: exactly one place. */
interface Resolved {
  axis: GridAxis;
  targets: Array<{ option: string; place: Place }>;
}

/** Resolve every axis in a spec, with one-line errors for keys that match nothing or more than one place. */
async function resolveAxes(file: string, label: string, axes: GridAxis[], runtime: Runtime, task: TaskRef | undefined, allow?: string[]) {
  const compiled = await compileSpec(file, { runtime, build: false, task, requireTask: true, allow });
  const { ast } = parse(compiled.source, { file });
  const pipeline = ast!.pipeline;
  const cellInfo = new Map(runtime.cells().map((c) => [c.name, c]));
  const stages = compiled.ir.layers.map((layer, i) => {
    const written = Object.keys(optionsOf(layer));
    const schema = 'cell' in layer ? Object.keys(cellInfo.get(layer.cell)?.schema.properties ?? {}) : [];
    return { name: pipeline[i].name, line: pipeline[i].nameSpan.line, column: pipeline[i].nameSpan.column, options: [...new Set([...written, ...schema])] };
  });
  // A key sets one place; `a+b` (e.g. RRU.units+outputSize) sets several options of a layer to the same value.
  const target = (key: string) => {
    const places = placesOf(key, stages);
    const option = key.slice(key.lastIndexOf('.') + 1);
    if (places.length === 0) {
      const layers = stages.map((s, i) => `${i + 1}. ${s.name}(${s.options.join(', ')})`).join('; ');
      throw usage(`--grid ${key}: matches no train option (${Object.keys(TRAIN_KEYS).join(', ')}) and no layer option of ${file} (${layers})`);
    }
    if (places.length > 1) {
      const hint = places.find((p) => p.stage !== undefined);
      throw usage(`--grid ${key}: matches ${places.length} places in ${file}: ${places.map((p) => p.where).join(', ')}; name one, e.g. --grid ${hint ? `${stages[hint.stage!].name}` : '1'}.${option}=…`);
    }
    return { option, place: places[0] };
  };
  const resolved: Resolved[] = axes.map((axis) => {
    if (!Array.isArray(axis.values) && !(label in axis.values)) {
      throw usage(`grid ${axis.key}: gives values per spec but none for ${label} (it has ${Object.keys(axis.values).join(', ')})`);
    }
    const key = axis.keys?.[label] ?? axis.key;
    const dot = key.lastIndexOf('.');
    const qualifier = dot < 0 ? '' : key.slice(0, dot + 1);
    return { axis, targets: key.slice(dot + 1).split('+').map((o) => target(qualifier + o)) };
  });
  return { compiled, pipeline, resolved };
}

/** The spec text with `values` set in the layers they name: each edited stage rewritten with named options. */
function editSpec(source: string, pipeline: Stage[], layers: LayerIR[], edits: Array<{ stage: number; option: string; value: GridValue }>): string {
  const byStage = new Map<number, Record<string, unknown>>();
  for (const e of edits) byStage.set(e.stage, { ...(byStage.get(e.stage) ?? optionsOf(layers[e.stage])), [e.option]: e.value });
  let out = source;
  // From the last stage back, so earlier offsets stay valid.
  for (const [i, options] of [...byStage.entries()].sort((a, b) => b[0] - a[0])) {
    const s = pipeline[i];
    const end = s.repeat ? s.repeat.span.start : s.span.end;
    const text = `${s.name}(${Object.entries(options).map(([k, v]) => `${k}: ${dslValue(v)}`).join(', ')})${s.repeat ? ' ' : ''}`;
    out = out.slice(0, s.span.start) + text + out.slice(end);
  }
  return out;
}

/** A train flag's value, checked as `cellstack train` checks its flag. */
function trainValue(flag: NonNullable<Place['train']>, key: string, v: GridValue): GridValue {
  const bad = (allowed: string) => usage(`--grid ${key}=${v}: must be ${allowed}`);
  if (flag === 'lr' || flag === 'clip') {
    if (typeof v !== 'number' || !(v > 0)) throw bad('a number > 0');
  } else if (flag === 'batch' || flag === 'steps' || flag === 'epochs') {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw bad('a whole number >= 1');
  } else if (flag === 'optimizer') {
    if (!(OPTIMIZERS as readonly string[]).includes(String(v))) throw bad(`one of ${OPTIMIZERS.join(', ')}`);
  } else {
    makeTask(parseTaskFlag(String(v)));
  }
  return v;
}

/** Short spec names: file names, or relative paths where two share a name. */
export function specLabels(specs: string[]): string[] {
  const base = specs.map((s) => path.basename(s).replace(/\.rnn$/, ''));
  return base.map((b, i) => (base.filter((x) => x === b).length > 1 ? path.relative(process.cwd(), specs[i]).replace(/\.rnn$/, '').replace(/[\\/]/g, '_') : b));
}

const slug = (v: GridValue) => String(v).replace(/[^\w.+-]+/g, '_');

/**
 * Every run of the sweep: specs × grid (the product of the axes) × seeds 1..N, each with
 * its spec text edited for its layer options and its train flags set. Checks everything
 * (keys, values, the edited specs) before anything trains.
 */
export async function expandGrid(
  specs: string[],
  axes: GridAxis[],
  seeds: number,
  base: RunFlags,
  runtime: Runtime,
): Promise<{ runs: SweepRun[]; taskText: string }> {
  const keys = axes.map((a) => a.key);
  const dup = keys.find((k, i) => keys.indexOf(k) !== i);
  if (dup) throw usage(`--grid ${dup}: given twice`);
  const labels = specLabels(specs);
  const taskFlag = base.task ? parseTaskFlag(base.task) : undefined;
  const runs: SweepRun[] = [];
  let taskText = '';
  for (const [si, file] of specs.entries()) {
    await readUserFile(file);
    const { compiled, pipeline, resolved } = await resolveAxes(file, labels[si], axes, runtime, taskFlag, base.allow);
    const specTask = { ...(taskFlag ?? compiled.taskRef!) };
    // A data file at its absolute path: workers on other machines need it at the same place.
    if (typeof specTask.options.file === 'string') specTask.options = { ...specTask.options, file: path.resolve(specTask.options.file) };
    taskText ||= showTask(specTask);
    const lists = resolved.map((r) => (Array.isArray(r.axis.values) ? r.axis.values : r.axis.values[labels[si]]));
    for (const [k, l] of lists.entries()) {
      const twice = l.find((v, i) => l.indexOf(v) !== i);
      if (twice !== undefined) throw usage(`--grid ${axes[k].key}: the value ${twice} is given twice`);
    }
    const combos = lists.reduce((n, l) => n * l.length, 1);
    for (let c = 0; c < combos; c++) {
      // Row-major: the first key varies slowest, the last fastest.
      const picked: GridValue[] = [];
      for (let k = lists.length - 1, rest = c; k >= 0; k--) {
        picked[k] = lists[k][rest % lists[k].length];
        rest = Math.floor(rest / lists[k].length);
      }
      const values: Record<string, GridValue> = {};
      const edits: Array<{ stage: number; option: string; value: GridValue }> = [];
      const flags: RunFlags = { ...base, task: showTask(specTask) };
      resolved.forEach((r, k) => {
        const v = picked[k];
        values[r.axis.key] = v;
        for (const { option, place } of r.targets) {
          if (place.train) (flags as Record<string, unknown>)[place.train] = trainValue(place.train, r.axis.key, v);
          else edits.push({ stage: place.stage!, option, value: v });
        }
      });
      const source = editSpec(compiled.source, pipeline, compiled.ir.layers, edits);
      if (edits.length) await checkEdited(file, source, values, runtime, flags, base.allow);
      const task = makeTask(parseTaskFlag(flags.task!));
      for (let seed = 1; seed <= seeds; seed++) {
        const name = [labels[si], ...Object.entries(values).map(([k, v]) => `${k.replace(/\./g, '_')}${slug(v)}`), `seed${seed}`].join('-');
        runs.push({ name, spec: labels[si], source, values, seed, flags: { ...flags, seed }, task: flags.task!, baseline: task.baseline });
      }
    }
  }
  return { runs, taskText };
}

/** Compile an edited spec; a bad grid value is reported against the grid, not the generated text. */
async function checkEdited(file: string, source: string, values: Record<string, GridValue>, runtime: Runtime, flags: RunFlags, allow?: string[]) {
  const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(path.join(tmpdir(), 'cellstack-sweep-'));
  const copy = path.join(dir, path.basename(file));
  try {
    await writeFile(copy, source);
    // Built and checked against the task, as train will: a bad value fails here, before anything runs.
    (await compileSpec(copy, { runtime, task: parseTaskFlag(flags.task!), allow })).model?.dispose();
  } catch (e) {
    const shown = Object.entries(values).map(([k, v]) => `${k}=${v}`).join(' ');
    const detail = e instanceof CliError ? [e.message, ...e.lines].join(' ').replace(new RegExp(copy.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'g'), file) : (e as Error).message;
    throw new CliError(`--grid ${shown}: ${file} does not compile with it: ${detail.replace(/\s+/g, ' ')}`, EXIT.usage);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
