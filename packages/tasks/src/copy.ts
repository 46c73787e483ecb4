import { CellstackError } from '@cellstack/core';
import type { Task } from './task.js';

export interface CopyOptions {
  /** Lag T between the data and the marker (T − 1 blanks). */
  lag: number;
  /** Number of data symbols S (default 10). */
  symbols?: number;
}

/**
 * Copy memory as in NRU/myTorch (Arjovsky et al. 2016): length T + 2S; S data symbols
 * from 1..8, T − 1 blanks, the marker 9, then S blanks. Input one-hot 10, target one of 9
 * classes at every step (blank except the last S steps = the data). Loss: mean CE over
 * all steps; memoryless baseline S·ln 8 / (T + 2S).
 */
export function copyTask({ lag, symbols = 10 }: CopyOptions): Task {
  if (!Number.isInteger(lag) || lag < 1) throw new CellstackError('task.lag', `must be an integer >= 1 (got ${lag})`);
  if (!Number.isInteger(symbols) || symbols < 1) throw new CellstackError('task.symbols', `must be an integer >= 1 (got ${symbols})`);
  const S = symbols;
  const T = lag + 2 * S;
  return {
    name: 'copy',
    description: `copy memory, lag ${lag}, ${S} symbols (NRU/Arjovsky variant, loss over all steps)`,
    inputShape: [T, 10],
    outputs: 9,
    perStep: true,
    loss: 'categoricalCrossentropy',
    baseline: (S * Math.log(8)) / T,
    batch(B, rng) {
      const x = new Float32Array(B * T * 10);
      const y = new Float32Array(B * T * 9);
      for (let b = 0; b < B; b++) {
        const data = Array.from({ length: S }, () => 1 + rng.int(8));
        for (let t = 0; t < T; t++) {
          const input = t < S ? data[t] : t === S + lag - 1 ? 9 : 0;
          const target = t >= T - S ? data[t - (T - S)] : 0;
          x[(b * T + t) * 10 + input] = 1;
          y[(b * T + t) * 9 + target] = 1;
        }
      }
      return { x, xShape: [B, T, 10], y, yShape: [B, T, 9] };
    },
  };
}
