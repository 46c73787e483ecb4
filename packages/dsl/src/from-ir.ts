import { isCellLayer, type LayerIR, type ModelIR } from '@cellstack/core';
import { BUILTINS } from './check.js';
import { format } from './format.js';
import { TRAIN_KEYS, type TrainingSpec } from './training.js';

const KEYWORDS = new Set(['use', 'input', 'train', 'true', 'false', 'null']);
const BARE = /^[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*$/;

/** A JSON value as .rnn text: names print bare (`softmax`) when they lex back as names. */
function printJson(v: unknown, where: string): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`${where}: ${v} cannot be written in .rnn`);
    return String(v);
  }
  if (typeof v === 'string') return BARE.test(v) && !KEYWORDS.has(v) && !/^x[0-9]+$/.test(v) ? v : JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map((x, i) => printJson(x, `${where}[${i}]`)).join(', ')}]`;
  throw new Error(`${where}: objects cannot be written in .rnn (got ${JSON.stringify(v)})`);
}

const printOptions = (options: Record<string, unknown>, where: string) =>
  Object.entries(options)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}: ${printJson(v, `${where}.${k}`)}`)
    .join(', ');

function printLayer(layer: LayerIR, i: number): string {
  const where = `layers[${i}]`;
  if (isCellLayer(layer)) {
    const opts = layer.options ? printOptions(layer.options, `${where}.options`) : '';
    const repeat = layer.repeat !== undefined && layer.repeat !== 1 ? ` x${layer.repeat}` : '';
    const cell = `${layer.cell}${opts ? `(${opts})` : ''}`;
    if (!layer.bidirectional) return `${cell}${repeat}`;
    const merge = layer.bidirectional.merge;
    return `bidirectional(${cell}${merge ? `, merge: ${merge}` : ''})${repeat}`;
  }
  const { type, ...options } = layer;
  if (!Object.hasOwn(BUILTINS, type)) throw new Error(`${where}: unknown layer type '${type}'`);
  const [first, ...rest] = BUILTINS[type].positional;
  // The main option positionally (dense(10)), the rest by name.
  const parts: string[] = [];
  const rec = options as Record<string, unknown>;
  if (first !== undefined && rec[first] !== undefined && type !== 'layerNorm') {
    parts.push(printJson(rec[first], `${where}.${first}`));
    delete rec[first];
    if (type === 'embedding' && rest[0] && rec[rest[0]] !== undefined) {
      parts.push(printJson(rec[rest[0]], `${where}.${rest[0]}`));
      delete rec[rest[0]];
    }
  }
  const named = printOptions(rec, where);
  if (named) parts.push(named);
  return parts.length ? `${type}(${parts.join(', ')})` : type;
}

function printTraining(t: TrainingSpec, seed: number | undefined): string[] {
  const fieldToKey = Object.fromEntries(Object.entries(TRAIN_KEYS).map(([k, v]) => [v.field, k]));
  const lines: string[] = [];
  for (const [field, value] of Object.entries({ ...t, ...(seed !== undefined ? { seed } : {}) })) {
    if (value === undefined) continue;
    const key = fieldToKey[field];
    if (!key) throw new Error(`training.${field} cannot be written in .rnn; train keys: ${Object.keys(TRAIN_KEYS).join(', ')}`);
    let text: string;
    if (field === 'task') {
      const task = value as NonNullable<TrainingSpec['task']>;
      const opts = printOptions(task.options ?? {}, 'training.task.options');
      text = `${task.name}${opts ? `(${opts})` : ''}`;
    } else if (field === 'optimizer') {
      const o = value as NonNullable<TrainingSpec['optimizer']>;
      text = `${o.name}${o.learningRate !== undefined ? `(lr: ${printJson(o.learningRate, 'training.optimizer.learningRate')})` : ''}`;
    } else text = printJson(value, `training.${field}`);
    lines.push(`  ${key}: ${text}`);
  }
  return lines;
}

/**
 * A model IR (and training spec) as .rnn text, so a model built in code can be
 * printed as a spec. Cells from plugin packages also need their `use` line, which the
 * IR does not record. Throws for values .rnn cannot express (objects, NaN).
 */
export function fromIR(ir: ModelIR, training?: TrainingSpec): string {
  if (training?.seed !== undefined && ir.seed !== undefined && training.seed !== ir.seed) {
    throw new Error(`the IR's seed ${ir.seed} and the training seed ${training.seed} differ; .rnn has one seed`);
  }
  const [T, F] = ir.input.shape;
  const out = [`input ${ir.input.dtype ? `${ir.input.dtype} ` : ''}[${T === null ? 'null' : T}, ${F}]`];
  const stages = ir.layers.map(printLayer);
  out.push(stages.join(' -> '));
  const train = training || ir.seed !== undefined ? printTraining(training ?? {}, ir.seed ?? training?.seed) : [];
  if (train.length) out.push('', 'train {', ...train, '}');
  return format(`${out.join('\n')}\n`);
}
