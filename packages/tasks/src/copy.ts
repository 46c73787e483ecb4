import { CellstackError, type Rng } from '@cellstack/core';
import { integer, oneHot, taskOptions } from './options.js';
import type { Batch, Task, TaskEntry } from './task.js';

export interface CopyOptions {
  /** Lag T between the data and the marker (T − 1 blanks); default 100. */
  lag?: number;
  /** Number of data symbols S (default 10). */
  symbols?: number;
}

export interface VariableCopyOptions {
  /** Smallest lag (default 1). */
  minLag?: number;
  /** Largest lag (default 100). */
  maxLag?: number;
  symbols?: number;
}

const INPUTS = 10; // one-hot: 0 blank, 1..8 data, 9 marker
const CLASSES = 9; // targets: 0 blank, 1..8 data
const MARKER = 9;
const symbolsOption = integer(1, 'Number of data symbols S to remember (10 in every paper).', 10);

/**
 * The NRU/myTorch (Arjovsky et al. 2016) layout for a lag drawn for the whole batch:
 * S data symbols, T − 1 blanks, the marker, S blanks; target blank except the last S steps.
 */
function arjovskyBatch(B: number, lag: number, S: number, rng: Rng): Batch {
  const T = lag + 2 * S;
  const x = new Float32Array(B * T * INPUTS);
  const y = new Float32Array(B * T * CLASSES);
  for (let b = 0; b < B; b++) {
    const data = Array.from({ length: S }, () => 1 + rng.int(8));
    for (let t = 0; t < T; t++) {
      oneHot(x, b * T + t, INPUTS, t < S ? data[t] : t === S + lag - 1 ? MARKER : 0);
      oneHot(y, b * T + t, CLASSES, t >= T - S ? data[t - (T - S)] : 0);
    }
  }
  return { x, xShape: [B, T, INPUTS], y, yShape: [B, T, CLASSES] };
}

const copySchema = {
  type: 'object',
  properties: {
    lag: integer(1, 'Lag T between the last data symbol and the marker: T − 1 blanks, then the marker (NRU configs: 100, 200, 500, 1000).', 100),
    symbols: symbolsOption,
  },
  additionalProperties: false,
};

/**
 * Copy memory as in NRU/myTorch (Arjovsky et al. 2016): length T + 2S; S data symbols
 * from 1..8, T − 1 blanks, the marker 9, then S blanks. Input one-hot 10, target one of 9
 * classes at every step (blank except the last S steps = the data). Loss: mean CE over
 * all steps; memoryless baseline S·ln 8 / (T + 2S).
 */
export function copyTask(options: CopyOptions = {}): Task {
  const o = taskOptions<Required<CopyOptions>>(copySchema, options);
  const S = o.symbols;
  const T = o.lag + 2 * S;
  return {
    name: 'copy',
    description: `copy memory, lag ${o.lag}, ${S} symbols (NRU/Arjovsky variant, loss over all steps)`,
    options: o,
    inputShape: [T, INPUTS],
    outputs: CLASSES,
    perStep: true,
    loss: 'categoricalCrossentropy',
    baseline: (S * Math.log(8)) / T,
    metrics: ['accuracy'],
    batch: (B, rng) => arjovskyBatch(B, o.lag, S, rng),
  };
}

const urCopySchema = {
  type: 'object',
  properties: {
    lag: integer(1, 'Blanks T between the data and the cue (r0mainK/ur-lstm config: 480, total length 500).', 480),
    symbols: symbolsOption,
  },
  additionalProperties: false,
};

/**
 * Copy as in the UR-LSTM experiments (r0mainK/ur-lstm copy_dataset.py): S data symbols,
 * T blanks, then the cue 9 on all of the last S steps; only the last S outputs are scored
 * (the others' targets are blank but carry no loss). Baseline ln 8.
 */
export function urCopyTask(options: CopyOptions = {}): Task {
  const o = taskOptions<Required<CopyOptions>>(urCopySchema, options);
  const S = o.symbols;
  const T = o.lag + 2 * S;
  return {
    name: 'copy-ur',
    description: `copy memory, ${o.lag} blanks, ${S} symbols (UR variant: cue on the last ${S} steps, only they are scored)`,
    options: o,
    inputShape: [T, INPUTS],
    outputs: CLASSES,
    perStep: true,
    loss: 'categoricalCrossentropy',
    scoredSteps: S,
    baseline: Math.log(8),
    metrics: ['accuracy'],
    batch(B, rng) {
      const x = new Float32Array(B * T * INPUTS);
      const y = new Float32Array(B * T * CLASSES);
      for (let b = 0; b < B; b++) {
        const data = Array.from({ length: S }, () => 1 + rng.int(8));
        for (let t = 0; t < T; t++) {
          oneHot(x, b * T + t, INPUTS, t < S ? data[t] : t >= T - S ? MARKER : 0);
          oneHot(y, b * T + t, CLASSES, t >= T - S ? data[t - (T - S)] : 0);
        }
      }
      return { x, xShape: [B, T, INPUTS], y, yShape: [B, T, CLASSES] };
    },
  };
}

const variableCopySchema = {
  type: 'object',
  properties: {
    minLag: integer(1, 'Smallest lag (myTorch copy_v2: 1).', 1),
    maxLag: integer(1, 'Largest lag (myTorch copy_v2: 100 or 200).', 100),
    symbols: symbolsOption,
  },
  additionalProperties: false,
};

/**
 * Variable copying (NRU/myTorch copy_v2): the copy task with the lag drawn from
 * U{minLag..maxLag} once per batch, so the sequence length changes from batch to batch
 * (the model's input length must be open: `input [null, 10]`). Baseline: the mean over
 * lags of S·ln 8/(T + 2S).
 */
export function variableCopyTask(options: VariableCopyOptions = {}): Task {
  const o = taskOptions<Required<VariableCopyOptions>>(variableCopySchema, options);
  if (o.maxLag < o.minLag) throw new CellstackError('task.maxLag', `must be >= minLag (${o.minLag}) (got ${o.maxLag})`);
  const S = o.symbols;
  let baseline = 0;
  for (let lag = o.minLag; lag <= o.maxLag; lag++) baseline += (S * Math.log(8)) / (lag + 2 * S);
  baseline /= o.maxLag - o.minLag + 1;
  return {
    name: 'variable-copy',
    description: `variable copy, lag ${o.minLag}..${o.maxLag} per batch, ${S} symbols (NRU/myTorch copy_v2)`,
    options: o,
    inputShape: [null, INPUTS],
    outputs: CLASSES,
    perStep: true,
    loss: 'categoricalCrossentropy',
    baseline,
    metrics: ['accuracy'],
    batch: (B, rng) => arjovskyBatch(B, o.minLag + rng.int(o.maxLag - o.minLag + 1), S, rng),
  };
}

export const copyEntries: TaskEntry[] = [
  { name: 'copy', description: 'copy memory, NRU/Arjovsky variant (loss over all steps)', schema: copySchema, positional: ['lag', 'symbols'], create: copyTask },
  { name: 'copy-ur', description: 'copy memory, UR variant (cue on the last S steps, only they are scored)', schema: urCopySchema, positional: ['lag', 'symbols'], create: urCopyTask },
  { name: 'variable-copy', description: 'copy memory with a lag drawn per batch (NRU copy_v2)', schema: variableCopySchema, positional: ['minLag', 'maxLag'], create: variableCopyTask },
];
