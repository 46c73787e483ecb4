import { readFileSync } from 'node:fs';
import { CellstackError } from '@cellstack/core';
import { integer, oneHot, taskOptions } from './options.js';
import type { Task, TaskEntry } from './task.js';

export interface CharLMOptions {
  /** Path of a UTF-8 text file (the user's corpus, e.g. Penn Treebank characters). */
  file: string;
  /** Characters per training window (truncated BPTT length, default 100). */
  length?: number;
  /** Fraction of the text, at its end, held out for validation (default 0.1). */
  validation?: number;
  /** 'onehot' inputs [T, vocab] for any cell, or 'ids' [T, 1] for a spec starting with `embedding`. */
  input?: 'onehot' | 'ids';
  /**
   * Read the file as one sequence per line (sentences, log lines): each example is one
   * whole line, padded at the end to `length` steps and masked, instead of a window of
   * running text.
   */
  lines?: boolean;
}

const schema = {
  type: 'object',
  properties: {
    file: { type: 'string', minLength: 1, description: 'Path of a UTF-8 text file to model (required).' },
    length: integer(2, 'Characters per training window (truncated BPTT length).', 100),
    validation: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.1, description: 'Fraction of the text, at its end, held out for validation.' },
    input: { enum: ['onehot', 'ids'], default: 'onehot', description: "'onehot' inputs [T, vocab] for any cell, or 'ids' [T, 1] for a spec that starts with embedding(vocab, dim)." },
    lines: {
      type: 'boolean',
      default: false,
      description: 'One sequence per line: each example is a whole line (cut to length + 1 characters), zero-padded to length and masked; read it with masking(value: 0), or embedding(vocab + 1, dim, maskZero: true) with ids (id 0 is padding).',
    },
  },
  required: ['file'],
  additionalProperties: false,
};

/**
 * Character-level language modelling on a text file (NRU, RRU): predict the next
 * character at every step of random windows. Metrics: bits per character (loss / ln 2)
 * and accuracy. Baseline: the unigram entropy of the training text (in nats), what a
 * model that remembers nothing can reach. The vocabulary is every character of the file.
 */
export function charLMTask(options: CharLMOptions): Task {
  const o = taskOptions<Required<CharLMOptions>>(schema, options);
  let text: string;
  try {
    text = readFileSync(o.file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CellstackError('task.file', `cannot read '${o.file}' (${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : (code ?? (e as Error).message)})`, 'give the path of a UTF-8 text file');
  }
  if (o.lines) return linesTask(o, text);
  const chars = Array.from(text);
  const vocab = [...new Set(chars)].sort();
  const index = new Map(vocab.map((c, i) => [c, i]));
  const ids = Uint16Array.from(chars, (c) => index.get(c)!);
  const L = o.length;
  const cut = Math.floor(ids.length * (1 - o.validation));
  const splits = { train: ids.subarray(0, cut), validation: ids.subarray(cut) };
  for (const [name, part] of Object.entries(splits)) {
    if (part.length < L + 1) {
      throw new CellstackError('task.file', `'${o.file}' is too short: its ${name} part has ${part.length} characters, a window needs length + 1 = ${L + 1}`, 'use a longer text or a smaller length');
    }
  }
  if (vocab.length < 2) throw new CellstackError('task.file', `'${o.file}' uses a single character; there is nothing to predict`);
  const counts = new Float64Array(vocab.length);
  for (const id of splits.train) counts[id]++;
  const entropy = -counts.reduce((h, c) => (c > 0 ? h + (c / cut) * Math.log(c / cut) : h), 0);
  const V = vocab.length;
  const F = o.input === 'ids' ? 1 : V;
  return {
    name: 'char-lm',
    description: `character-level LM on ${o.file}: ${ids.length} characters, vocabulary ${V}, windows of ${L}`,
    options: o,
    inputShape: [L, F],
    outputs: V,
    perStep: true,
    loss: 'categoricalCrossentropy',
    baseline: entropy,
    metrics: ['bpc', 'accuracy'],
    trainSize: Math.floor(cut / L),
    batch(B, rng, split = 'train') {
      const src = splits[split];
      const x = new Float32Array(B * L * F);
      const y = new Float32Array(B * L * V);
      for (let b = 0; b < B; b++) {
        const start = rng.int(src.length - L);
        for (let t = 0; t < L; t++) {
          if (F === 1) x[b * L + t] = src[start + t];
          else oneHot(x, b * L + t, V, src[start + t]);
          oneHot(y, b * L + t, V, src[start + t + 1]);
        }
      }
      return { x, xShape: [B, L, F], y, yShape: [B, L, V] };
    },
  };
}

export const charLMEntry: TaskEntry = {
  name: 'char-lm',
  description: 'character-level language modelling on a text file (bits per character, accuracy)',
  schema,
  positional: ['file'],
  create: (o) => charLMTask(o as unknown as CharLMOptions),
};

/**
 * char-lm over one sequence per line: predict each next character of a line. Lines of
 * one or no character predict nothing and are skipped; the validation part is the last
 * lines of the file. Padding: inputs all zeros (one-hot) or id 0 (ids shift by one),
 * targets all zeros, so the loss counts real steps only.
 */
function linesTask(o: Required<CharLMOptions>, text: string): Task {
  const lines = text.split(/\r\n|\r|\n/).map((l) => Array.from(l).slice(0, o.length + 1)).filter((l) => l.length >= 2);
  const vocab = [...new Set(lines.flat())].sort();
  const index = new Map(vocab.map((c, i) => [c, i]));
  const seqs = lines.map((l) => Uint16Array.from(l, (c) => index.get(c)!));
  const cut = Math.min(seqs.length - 1, Math.floor(seqs.length * (1 - o.validation)));
  if (cut < 1) throw new CellstackError('task.file', `'${o.file}' has ${seqs.length} line(s) of two or more characters; one sequence per line needs at least 2 (training and validation)`, 'add lines, or drop lines: true to read running text');
  if (vocab.length < 2) throw new CellstackError('task.file', `'${o.file}' uses a single character; there is nothing to predict`);
  const splits = { train: seqs.slice(0, cut), validation: seqs.slice(cut) };
  const counts = new Float64Array(vocab.length);
  let n = 0;
  for (const s of splits.train) {
    for (const id of s.subarray(1)) counts[id]++;
    n += s.length - 1;
  }
  const entropy = -counts.reduce((h, c) => (c > 0 ? h + (c / n) * Math.log(c / n) : h), 0);
  const V = vocab.length;
  const L = o.length;
  const F = o.input === 'ids' ? 1 : V;
  return {
    name: 'char-lm',
    description: `character-level LM on ${o.file}, one sequence per line: ${seqs.length} lines, vocabulary ${V}${F === 1 ? ` (ids 1..${V}, 0 = padding)` : ''}, padded to ${L}`,
    options: o,
    inputShape: [L, F],
    outputs: V,
    perStep: true,
    loss: 'categoricalCrossentropy',
    baseline: entropy,
    metrics: ['bpc', 'accuracy'],
    trainSize: splits.train.length,
    padded: true,
    batch(B, rng, split = 'train') {
      const src = splits[split];
      const x = new Float32Array(B * L * F);
      const y = new Float32Array(B * L * V);
      const mask = new Float32Array(B * L);
      for (let b = 0; b < B; b++) {
        const line = src[rng.int(src.length)];
        for (let t = 0; t < line.length - 1; t++) {
          mask[b * L + t] = 1;
          if (F === 1) x[b * L + t] = line[t] + 1;
          else oneHot(x, b * L + t, V, line[t]);
          oneHot(y, b * L + t, V, line[t + 1]);
        }
      }
      return { x, xShape: [B, L, F], y, yShape: [B, L, V], mask };
    },
  };
}
