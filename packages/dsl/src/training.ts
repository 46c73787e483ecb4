import { clip, closest, OPTIMIZERS } from '@cellstack/core';
import type { Span, SpecAST, TrainBlock, TrainEntry, Value } from './ast.js';
import { plainValue } from './values.js';

/** How to train: what the `train { … }` block compiles to (the CLI runs it). */
export interface TrainingSpec {
  task?: { name: string; options: Record<string, unknown> };
  optimizer?: { name: string; learningRate?: number };
  batch?: number;
  steps?: number;
  epochs?: number;
  clipNorm?: number;
  seed?: number;
  [extra: string]: unknown;
}


/** The keys of a train block, what each takes, and the TrainingSpec field it fills. */
export const TRAIN_KEYS: Record<string, { field: keyof TrainingSpec & string; describe: string }> = {
  task: { field: 'task', describe: 'a task, e.g. copy(lag: 100)' },
  optimizer: { field: 'optimizer', describe: `an optimiser (${OPTIMIZERS.join(', ')}), e.g. adam(lr: 1e-3)` },
  batch: { field: 'batch', describe: 'a whole number >= 1' },
  steps: { field: 'steps', describe: 'a whole number >= 1' },
  epochs: { field: 'epochs', describe: 'a whole number >= 1' },
  clip: { field: 'clipNorm', describe: 'a number > 0 (global gradient norm)' },
  seed: { field: 'seed', describe: 'a whole number >= 0' },
};

const show = (v: Value): string => {
  switch (v.kind) {
    case 'number':
      return clip(v.raw);
    case 'string':
      return clip(JSON.stringify(v.value));
    case 'boolean':
      return String(v.value);
    case 'null':
      return 'null';
    case 'ident':
      return clip(v.name);
    case 'array':
      return '[…]';
    case 'call':
      return `${clip(v.name)}(…)`;
  }
};

/**
 * Read a train block into a TrainingSpec, checking its own keys and value types.
 * Task names and task options are the CLI's to validate (it knows the tasks).
 */
export function readTraining(block: TrainBlock, report: (span: Span, code: string, message: string, hint?: string) => void): TrainingSpec {
  const spec: TrainingSpec = {};
  const seen = new Map<string, TrainEntry>();
  const bad = (e: TrainEntry) => report(e.value.span, 'bad-train-value', `train '${e.key}' must be ${TRAIN_KEYS[e.key].describe} (got ${show(e.value)})`);

  for (const e of block.entries) {
    // Own keys only: `constructor` or `__proto__` is an unknown key, not Object.prototype's.
    const key = Object.hasOwn(TRAIN_KEYS, e.key) ? TRAIN_KEYS[e.key] : undefined;
    if (!key) {
      const guess = closest(e.key, Object.keys(TRAIN_KEYS));
      report(e.keySpan, 'unknown-train-key', `unknown train key '${clip(e.key)}'; allowed: ${Object.keys(TRAIN_KEYS).join(', ')}`, guess ? `did you mean '${guess}'?` : undefined);
      continue;
    }
    if (seen.has(e.key)) {
      report(e.keySpan, 'duplicate-train-key', `train '${e.key}' is given twice`, 'remove one');
      continue;
    }
    seen.set(e.key, e);
    const v = e.value;
    switch (e.key) {
      case 'task': {
        if (v.kind !== 'ident' && v.kind !== 'call') {
          bad(e);
          break;
        }
        const options = new Map<string, unknown>();
        for (const a of v.kind === 'call' ? v.args : []) {
          const plain = plainValue(a.value);
          if (a.name === undefined) report(a.span, 'bad-train-value', `task options are named, e.g. ${clip(v.name)}(lag: 100)`);
          else if (options.has(a.name)) report(a.nameSpan ?? a.span, 'duplicate-option', `task option '${clip(a.name)}' is given twice`);
          else if (!plain.ok) report(plain.span, 'bad-train-value', `task option '${clip(a.name)}' must be a plain value, not a call`);
          else options.set(a.name, plain.value);
        }
        spec.task = { name: v.name, options: Object.fromEntries(options) };
        break;
      }
      case 'optimizer': {
        if (v.kind !== 'ident' && v.kind !== 'call') {
          bad(e);
          break;
        }
        const nameSpan = v.kind === 'call' ? v.nameSpan : v.span;
        if (!(OPTIMIZERS as readonly string[]).includes(v.name)) {
          const guess = closest(v.name, OPTIMIZERS);
          report(nameSpan, 'bad-train-value', `unknown optimiser '${clip(v.name)}'; allowed: ${OPTIMIZERS.join(', ')}`, guess ? `did you mean ${guess}?` : undefined);
        }
        spec.optimizer = { name: v.name };
        (v.kind === 'call' ? v.args : []).forEach((a, i) => {
          const name = a.name ?? (i === 0 ? 'lr' : undefined);
          if (name !== 'lr' && name !== 'learningRate') {
            report(a.nameSpan ?? a.span, 'bad-train-value', a.name ? `unknown optimiser option '${clip(a.name)}'; allowed: lr` : 'an optimiser takes one option, lr', a.name && closest(a.name, ['lr', 'learningRate']) ? 'did you mean lr?' : undefined);
          } else if (a.value.kind !== 'number' || !(a.value.value > 0 && Number.isFinite(a.value.value))) {
            report(a.value.span, 'bad-train-value', `lr must be a number > 0 (got ${show(a.value)})`);
          } else if (spec.optimizer!.learningRate !== undefined) {
            report(a.span, 'duplicate-option', 'lr is given twice');
          } else spec.optimizer!.learningRate = a.value.value;
        });
        break;
      }
      case 'clip':
        if (v.kind === 'number' && v.value > 0 && Number.isFinite(v.value)) spec.clipNorm = v.value;
        else bad(e);
        break;
      default: {
        const min = e.key === 'seed' ? 0 : 1;
        if (v.kind === 'number' && Number.isSafeInteger(v.value) && v.value >= min) spec[key.field] = v.value;
        else bad(e);
      }
    }
  }
  if (seen.has('steps') && seen.has('epochs')) {
    const later = [seen.get('steps')!, seen.get('epochs')!].sort((a, b) => a.span.start - b.span.start)[1];
    report(later.keySpan, 'conflicting-train-keys', "give 'steps' or 'epochs', not both", 'steps counts batches; epochs counts passes over a fixed data set');
  }
  return spec;
}

/**
 * The task a file's train block names, with its plain options and where it is written;
 * problems are left to the checker. Callers read it before compiling when the task's
 * data fixes the model's input shape (the CLI).
 */
export function taskOf(ast: SpecAST): { name: string; options: Record<string, unknown>; span: Span } | undefined {
  const entry = ast.training?.entries.find((e) => e.key === 'task');
  if (!entry) return undefined;
  const { task } = readTraining({ ...ast.training!, entries: [entry] }, () => {});
  return task && { ...task, span: entry.value.span };
}
