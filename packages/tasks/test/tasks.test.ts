import { createRng } from '@cellstack/core';
import { describe, expect, it } from 'vitest';
import { addingHSTask, addingTask, copyTask } from '@cellstack/tasks';

describe('copyTask', () => {
  it('lays out data, blanks, marker and targets as the NRU generator', () => {
    const task = copyTask({ lag: 5, symbols: 3 });
    const { x, y, xShape, yShape } = task.batch(2, createRng(1));
    expect(xShape).toEqual([2, 11, 10]);
    expect(yShape).toEqual([2, 11, 9]);
    const argmax = (a: Float32Array, off: number, n: number) => Array.from(a.subarray(off, off + n)).indexOf(1);
    for (let b = 0; b < 2; b++) {
      const inp = Array.from({ length: 11 }, (_, t) => argmax(x, (b * 11 + t) * 10, 10));
      const tgt = Array.from({ length: 11 }, (_, t) => argmax(y, (b * 11 + t) * 9, 9));
      expect(inp.slice(0, 3).every((s) => s >= 1 && s <= 8)).toBe(true);
      expect(inp.slice(3)).toEqual([0, 0, 0, 0, 9, 0, 0, 0]); // lag 5: 4 blanks, marker, 3 blanks
      expect(tgt).toEqual([0, 0, 0, 0, 0, 0, 0, 0, ...inp.slice(0, 3)]);
    }
    expect(task.baseline).toBeCloseTo((3 * Math.log(8)) / 11, 10);
    expect(copyTask({ lag: 100 }).baseline).toBeCloseTo(0.1733, 4);
  });
  it('is deterministic for a seed and rejects bad options', () => {
    const t = copyTask({ lag: 10 });
    expect(t.batch(4, createRng(9)).x).toEqual(t.batch(4, createRng(9)).x);
    expect(() => copyTask({ lag: 0 })).toThrow(/task.lag: must be an integer >= 1/);
  });
});

describe('addingTask', () => {
  it('marks one value in each half and sums them', () => {
    const task = addingTask({ length: 10 });
    const { x, y } = task.batch(50, createRng(2));
    for (let b = 0; b < 50; b++) {
      const marks = Array.from({ length: 10 }, (_, t) => x[(b * 10 + t) * 2 + 1]);
      const idx = marks.flatMap((m, t) => (m === 1 ? [t] : []));
      expect(idx).toHaveLength(2);
      expect(idx[0]).toBeLessThan(5);
      expect(idx[1]).toBeGreaterThanOrEqual(5);
      expect(y[b]).toBeCloseTo(x[(b * 10 + idx[0]) * 2] + x[(b * 10 + idx[1]) * 2], 6);
    }
    expect(task.baseline).toBeCloseTo(1 / 6, 10);
  });
  it('H&S variant: targets in [0, 1] with variance near the stated baseline', () => {
    const task = addingHSTask({ length: 100 });
    const { y } = task.batch(4000, createRng(3));
    const mean = y.reduce((a, b) => a + b, 0) / y.length;
    const variance = y.reduce((a, b) => a + (b - mean) ** 2, 0) / y.length;
    expect(Math.min(...y)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...y)).toBeLessThanOrEqual(1);
    expect(variance).toBeGreaterThan(0.035);
    expect(variance).toBeLessThan(0.044);
  });
});

describe('addingHSTask with drawn lengths', () => {
  it('draws L in T..T+ceil(T/10) per sequence as the DMU code, zero-pads to padTo and returns the mask', () => {
    const task = addingHSTask({ length: 20, lengths: 'drawn', padTo: 30 });
    expect(task.inputShape).toEqual([30, 2]);
    expect(task.padded).toBe(true);
    const { x, y, mask } = task.batch(200, createRng(5));
    const seen = new Set<number>();
    for (let b = 0; b < 200; b++) {
      const m = Array.from(mask!.subarray(b * 30, (b + 1) * 30));
      const L = m.indexOf(0);
      seen.add(L);
      expect(m.slice(L).every((v) => v === 0)).toBe(true);
      expect(x[(b * 30 + L - 1) * 2 + 1]).toBe(-1); // the end mark sits at each sequence's own last step
      for (let t = 0; t < L; t++) expect(x[(b * 30 + t) * 2]).not.toBe(0);
      for (let t = L; t < 30; t++) expect([x[(b * 30 + t) * 2], x[(b * 30 + t) * 2 + 1]]).toEqual([0, 0]);
      expect(y[b]).toBeGreaterThanOrEqual(0);
    }
    expect([...seen].sort((a, b) => a - b)).toEqual([20, 21, 22]);
  });
  it('pads to the longest length by default and rejects a padTo that is too short or not needed', () => {
    expect(addingHSTask({ length: 100, lengths: 'drawn' }).inputShape).toEqual([110, 2]);
    expect(() => addingHSTask({ length: 100, lengths: 'drawn', padTo: 105 })).toThrow(/task.padTo: must be at least the longest drawn length 110/);
    expect(() => addingHSTask({ length: 100, padTo: 120 })).toThrow(/task.padTo: only applies with lengths: drawn/);
    expect(() => addingHSTask({ length: 100, lengths: 'random' as never })).toThrow(/task.lengths/);
  });
});
