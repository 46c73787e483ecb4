import { createRng } from '@cellstack/core';
import { describe, expect, it } from 'vitest';
import { copyTask, urCopyTask, variableCopyTask } from '@cellstack/tasks';
import { lossOf, symbols } from './helpers.js';

/** The memoryless predictor: blank where the target is always blank, uniform over 1..8 where the data comes back. */
function memoryless(yShape: number[], dataSteps: (t: number, T: number) => boolean): Float32Array {
  const [B, T, C] = yShape;
  const p = new Float32Array(B * T * C);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const row = (b * T + t) * C;
      if (dataSteps(t, T)) for (let c = 1; c <= 8; c++) p[row + c] = 1 / 8;
      else p[row] = 1;
    }
  }
  return p;
}

describe('copyTask (NRU)', () => {
  it('memoryless predictor scores exactly the stated baseline under the task loss', () => {
    const task = copyTask({ lag: 20, symbols: 5 });
    const batch = task.batch(8, createRng(4));
    const loss = lossOf(task, batch, memoryless(batch.yShape, (t, T) => t >= T - 5));
    expect(loss).toBeCloseTo((5 * Math.log(8)) / 30, 4);
    expect(task.baseline).toBeCloseTo(loss, 4);
    expect(copyTask().options).toEqual({ lag: 100, symbols: 10 });
  });
});

describe('urCopyTask', () => {
  it('puts the cue on all of the last S steps and scores only them', () => {
    const task = urCopyTask({ lag: 6, symbols: 3 });
    expect(task.inputShape).toEqual([12, 10]);
    expect(task.scoredSteps).toBe(3);
    const batch = task.batch(3, createRng(5));
    for (let b = 0; b < 3; b++) {
      const inp = symbols(batch.x, b, 12, 10);
      const tgt = symbols(batch.y, b, 12, 9);
      expect(inp.slice(0, 3).every((s) => s >= 1 && s <= 8)).toBe(true);
      expect(inp.slice(3)).toEqual([0, 0, 0, 0, 0, 0, 9, 9, 9]);
      expect(tgt.slice(-3)).toEqual(inp.slice(0, 3));
    }
  });
  it('baseline ln 8; predictions on unscored steps do not change the loss', () => {
    const task = urCopyTask({ lag: 10 });
    const batch = task.batch(4, createRng(6));
    const p = memoryless(batch.yShape, (t, T) => t >= T - 10);
    expect(lossOf(task, batch, p)).toBeCloseTo(Math.log(8), 4);
    for (let i = 0; i < 9 * 5; i++) p[i] = 0.3; // garbage on early steps of example 0
    expect(lossOf(task, batch, p)).toBeCloseTo(Math.log(8), 4);
    expect(task.baseline).toBeCloseTo(2.0794, 4);
    expect(urCopyTask().inputShape).toEqual([500, 10]);
  });
});

describe('variableCopyTask', () => {
  it('draws one lag per batch within bounds, with the marker at S + lag − 1', () => {
    const task = variableCopyTask({ minLag: 3, maxLag: 9, symbols: 4 });
    expect(task.inputShape).toEqual([null, 10]);
    const rng = createRng(7);
    const lengths = new Set<number>();
    for (let i = 0; i < 30; i++) {
      const batch = task.batch(2, rng);
      const T = batch.xShape[1];
      lengths.add(T);
      const lag = T - 8;
      expect(lag).toBeGreaterThanOrEqual(3);
      expect(lag).toBeLessThanOrEqual(9);
      for (let b = 0; b < 2; b++) {
        const inp = symbols(batch.x, b, T, 10);
        expect(inp.indexOf(9)).toBe(4 + lag - 1);
        expect(symbols(batch.y, b, T, 9).slice(-4)).toEqual(inp.slice(0, 4));
      }
    }
    expect(lengths.size).toBeGreaterThan(3);
    const expected = [3, 4, 5, 6, 7, 8, 9].reduce((a, lag) => a + (4 * Math.log(8)) / (lag + 8), 0) / 7;
    expect(task.baseline).toBeCloseTo(expected, 10);
  });
  it('rejects maxLag < minLag and bad types with the option path', () => {
    expect(() => variableCopyTask({ minLag: 5, maxLag: 2 })).toThrow(/task.maxLag: must be >= minLag \(5\)/);
    expect(() => variableCopyTask({ minLag: 0 })).toThrow(/task.minLag: must be an integer >= 1 \(got 0\)/);
    expect(() => copyTask({ lag: 2.5 })).toThrow(/task.lag: must be an integer >= 1 \(got 2.5\)/);
    expect(() => copyTask({ lagg: 2 } as never)).toThrow(/task.lagg: unknown option 'lagg'; allowed: lag, symbols.*did you mean 'lag'/);
  });
});
