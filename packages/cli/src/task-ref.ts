import { CellstackError } from '@cellstack/core';
import { createTask, findTask, type Task } from '@cellstack/tasks';
import { CliError, EXIT, usage } from './errors.js';

/** A task as named by a spec's train block or the --task flag. */
export interface TaskRef {
  name: string;
  options: Record<string, unknown>;
}

const VALUE = /^\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([^,()]*?))\s*$/;

function parseValue(raw: string): unknown {
  const m = VALUE.exec(raw);
  if (!m) throw usage(`--task: cannot read the value ${raw.trim()}`);
  if (m[1] !== undefined) return JSON.parse(`"${m[1]}"`);
  if (m[2] !== undefined) return m[2];
  const v = m[3];
  if (v === 'true' || v === 'false') return v === 'true';
  if (v === 'null') return null;
  if (v !== '' && Number.isFinite(Number(v))) return Number(v);
  return v;
}

/**
 * Read `--task copy`, `--task 'copy(lag: 20, symbols: 5)'` or `--task copy(20)` (positional
 * options in the task's order). The same call syntax as the DSL's train block.
 */
export function parseTaskFlag(text: string): TaskRef {
  const m = /^\s*([A-Za-z][\w-]*)\s*(?:\((.*)\))?\s*$/s.exec(text);
  if (!m) throw usage(`--task: expected a task such as copy or 'copy(lag: 20)' (got '${text}')`);
  const name = m[1];
  const entry = (() => {
    try {
      return findTask(name);
    } catch (e) {
      throw usage(`--task: ${(e as Error).message.replace(/^task: /, '')}`);
    }
  })();
  // A Map, so an option named `__proto__` is an option (then unknown), not the object's prototype.
  const options = new Map<string, unknown>();
  const body = m[2]?.trim();
  if (body) {
    body.split(',').forEach((part, i) => {
      const kv = /^\s*([A-Za-z_]\w*)\s*[:=](.*)$/s.exec(part);
      const key = kv ? kv[1] : entry.positional?.[i];
      if (!key) throw usage(`--task: ${entry.name} takes its options by name, e.g. ${entry.name}(${Object.keys(entry.schema.properties)[0]}: …)`);
      options.set(key, parseValue(kv ? kv[2] : part));
    });
  }
  return { name: entry.name, options: Object.fromEntries(options) };
}

/** Create the task, turning option errors into one-line CLI errors (with `where` in front, e.g. a file position). */
export function makeTask(ref: TaskRef, where = ''): Task {
  try {
    return createTask(ref.name, ref.options);
  } catch (e) {
    if (e instanceof CellstackError) {
      throw new CliError(`${where}${where ? 'error: ' : ''}${e.message}`, EXIT.input);
    }
    throw e;
  }
}

/** `copy(lag: 20)` for display. */
export const showTask = (ref: TaskRef) => {
  const opts = Object.entries(ref.options).map(([k, v]) => `${k}: ${JSON.stringify(v)}`);
  return opts.length ? `${ref.name}(${opts.join(', ')})` : ref.name;
};
