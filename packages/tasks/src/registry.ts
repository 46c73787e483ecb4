import { CellstackError, closest, describeSchema } from '@cellstack/core';
import { addingEntries } from './adding.js';
import { charLMEntry } from './char-lm.js';
import { copyEntries } from './copy.js';
import { denoiseEntry } from './denoise.js';
import { dmuEntries } from './dmu-sequences.js';
import { mnistEntries } from './mnist.js';
import type { Task, TaskEntry } from './task.js';

/** Every task by its canonical name (kebab-case). */
export const tasks: Record<string, TaskEntry> = Object.fromEntries(
  [...copyEntries, denoiseEntry, ...addingEntries, ...dmuEntries, ...mnistEntries, charLMEntry].map((e) => [e.name, e]),
);

/** Names match ignoring case, '-' and '_': `copy-ur`, `copyUR` and `copy_ur` are one task. */
const key = (name: string) => name.toLowerCase().replace(/[-_]/g, '');

/** The registry entry for a task name, or a CellstackError listing the tasks (with a guess). */
export function findTask(name: string): TaskEntry {
  const entry = Object.values(tasks).find((e) => key(e.name) === key(name));
  if (entry) return entry;
  const names = Object.keys(tasks);
  const guess = closest(name, names);
  throw new CellstackError('task', `unknown task '${name}'; available: ${names.join(', ')}`, guess ? `did you mean ${guess}?` : undefined);
}

/** Create a task by name with options (validated: errors name `task.<option>`). */
export function createTask(name: string, options: Record<string, unknown> = {}): Task {
  return findTask(name).create(options);
}

/** One line per option: `lag  integer >= 1  default 100  description`. */
export function describeTaskOptions(entry: TaskEntry): Array<{ name: string; allowed: string; default?: unknown; required: boolean; description: string }> {
  const required = new Set((entry.schema.required as string[] | undefined) ?? []);
  return Object.entries(entry.schema.properties).map(([name, s]) => ({
    name,
    allowed: describeSchema(s),
    default: s.default,
    required: required.has(name),
    description: String(s.description ?? ''),
  }));
}
