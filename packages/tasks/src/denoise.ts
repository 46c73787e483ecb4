import { CellstackError } from '@cellstack/core';
import { integer, oneHot, taskOptions } from './options.js';
import type { Task, TaskEntry } from './task.js';

export interface DenoiseOptions {
  /** Length T of the noisy part that holds the data (default 100). */
  length?: number;
  /** Number of data symbols S (default 10). */
  symbols?: number;
}

const schema = {
  type: 'object',
  properties: {
    length: integer(1, 'Steps T that hold the data at random positions (myTorch configs: 100, 200).', 100),
    symbols: integer(1, 'Number of data symbols S (10).', 10),
  },
  additionalProperties: false,
};

/**
 * Denoising as in NRU/myTorch (Jing et al. 2017): length T + 1 + S. The first T steps are
 * blank except S data symbols (1..8) at S distinct random positions, in order; step T is
 * the marker 9; the last S steps are blank input. Only the last S outputs are scored (the
 * data in order). Baseline ln 8.
 */
export function denoiseTask(options: DenoiseOptions = {}): Task {
  const o = taskOptions<Required<DenoiseOptions>>(schema, options);
  const { length: T, symbols: S } = o;
  if (S > T) throw new CellstackError('task.symbols', `must be <= length (${T}): each symbol needs its own position (got ${S})`);
  const L = T + 1 + S;
  return {
    name: 'denoise',
    description: `denoising, ${S} symbols scattered over ${T} steps (myTorch; only the last ${S} outputs are scored)`,
    options: o,
    inputShape: [L, 10],
    outputs: 9,
    perStep: true,
    loss: 'categoricalCrossentropy',
    scoredSteps: S,
    baseline: Math.log(8),
    metrics: ['accuracy'],
    batch(B, rng) {
      const x = new Float32Array(B * L * 10);
      const y = new Float32Array(B * L * 9);
      const positions = Array.from({ length: T }, (_, i) => i);
      for (let b = 0; b < B; b++) {
        // S distinct positions: a partial Fisher–Yates shuffle, then sorted.
        for (let i = 0; i < S; i++) {
          const j = i + rng.int(T - i);
          [positions[i], positions[j]] = [positions[j], positions[i]];
        }
        const chosen = positions.slice(0, S).sort((p, q) => p - q);
        const data = Array.from({ length: S }, () => 1 + rng.int(8));
        const input = new Array<number>(L).fill(0);
        chosen.forEach((p, i) => (input[p] = data[i]));
        input[T] = 9;
        for (let t = 0; t < L; t++) {
          oneHot(x, b * L + t, 10, input[t]);
          oneHot(y, b * L + t, 9, t > T ? data[t - T - 1] : 0);
        }
      }
      return { x, xShape: [B, L, 10], y, yShape: [B, L, 9] };
    },
  };
}

export const denoiseEntry: TaskEntry = {
  name: 'denoise',
  description: 'denoising: recall S symbols scattered among blanks (only the last S outputs scored)',
  schema,
  positional: ['length', 'symbols'],
  create: denoiseTask,
};
