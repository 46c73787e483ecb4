import { createRng } from '@cellstack/core';
import { describe, expect, it } from 'vitest';
import { denoiseTask } from '@cellstack/tasks';
import { lossOf, symbols } from './helpers.js';

describe('denoiseTask', () => {
  it('scatters S symbols in order over the first T steps, marker at T, data as the last S targets', () => {
    const task = denoiseTask({ length: 12, symbols: 4 });
    expect(task.inputShape).toEqual([17, 10]);
    const batch = task.batch(20, createRng(8));
    for (let b = 0; b < 20; b++) {
      const inp = symbols(batch.x, b, 17, 10);
      const tgt = symbols(batch.y, b, 17, 9);
      const data = inp.slice(0, 12).filter((s) => s !== 0);
      expect(data).toHaveLength(4);
      expect(data.every((s) => s >= 1 && s <= 8)).toBe(true);
      expect(inp[12]).toBe(9);
      expect(inp.slice(13)).toEqual([0, 0, 0, 0]);
      expect(tgt.slice(0, 13).every((s) => s === 0)).toBe(true);
      expect(tgt.slice(13)).toEqual(data);
    }
  });
  it('baseline ln 8 over the scored steps; rejects S > T', () => {
    const task = denoiseTask({ length: 10, symbols: 3 });
    const batch = task.batch(4, createRng(9));
    const [B, T, C] = batch.yShape;
    const p = new Float32Array(B * T * C).fill(1 / 9);
    for (let b = 0; b < B; b++) for (let t = T - 3; t < T; t++) for (let c = 0; c < 9; c++) p[(b * T + t) * 9 + c] = c === 0 ? 0 : 1 / 8;
    expect(lossOf(task, batch, p)).toBeCloseTo(task.baseline, 4);
    expect(task.baseline).toBeCloseTo(Math.log(8), 10);
    expect(() => denoiseTask({ length: 3, symbols: 5 })).toThrow(/task.symbols: must be <= length \(3\)/);
  });
});
