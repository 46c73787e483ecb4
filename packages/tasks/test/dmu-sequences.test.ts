import { createRng } from '@cellstack/core';
import { describe, expect, it } from 'vitest';
import { addingTask, noisySequenceTask, temporalOrderTask } from '@cellstack/tasks';
import { lossOf, symbolAt, symbols } from './helpers.js';

describe('temporalOrderTask', () => {
  it('places start, end and X/Y symbols in their windows; class = 4·s1 + 2·s2 + s3', () => {
    const task = temporalOrderTask({ length: 40 }); // m = 4: windows [4,8), [15,19), [30,34)
    const batch = task.batch(50, createRng(10));
    const classes = new Set<number>();
    for (let b = 0; b < 50; b++) {
      const seq = symbols(batch.x, b, 40, 8);
      expect(seq[0]).toBe(4);
      expect(seq[39]).toBe(5);
      const relevant = seq.flatMap((s, t) => (s >= 6 ? [[t, s - 6]] : []));
      expect(relevant).toHaveLength(3);
      const [[t1, s1], [t2, s2], [t3, s3]] = relevant;
      expect(t1 >= 4 && t1 < 8 && t2 >= 15 && t2 < 19 && t3 >= 30 && t3 < 34).toBe(true);
      expect(seq.filter((s, t) => t > 0 && t < 39 && s < 6).every((s) => s <= 3)).toBe(true);
      const label = symbolAt(batch.y, b, 8);
      expect(label).toBe(4 * s1 + 2 * s2 + s3);
      classes.add(label);
    }
    expect(classes.size).toBe(8);
  });
  it('baseline ln 8 (uniform guess) and a clear error when too short', () => {
    const task = temporalOrderTask({ length: 30 });
    const batch = task.batch(5, createRng(11));
    expect(lossOf(task, batch, new Float32Array(40).fill(1 / 8))).toBeCloseTo(task.baseline, 4);
    expect(() => temporalOrderTask({ length: 29 })).toThrow(/task.length: must be an integer >= 30/);
  });
});

describe('noisySequenceTask', () => {
  it('first symbol is p−2 or p−1, the rest below p−2; the label is the first symbol', () => {
    const task = noisySequenceTask({ length: 6, symbols: 5 });
    const batch = task.batch(30, createRng(12));
    const firsts = new Set<number>();
    for (let b = 0; b < 30; b++) {
      const seq = symbols(batch.x, b, 6, 5);
      expect([3, 4]).toContain(seq[0]);
      expect(seq.slice(1).every((s) => s <= 2)).toBe(true);
      expect(symbolAt(batch.y, b, 5)).toBe(seq[0]);
      firsts.add(seq[0]);
    }
    expect(firsts.size).toBe(2);
    const p = new Float32Array(30 * 5);
    for (let b = 0; b < 30; b++) p.set([0, 0, 0, 0.5, 0.5], b * 5);
    expect(lossOf(task, batch, p)).toBeCloseTo(Math.log(2), 4);
    expect(task.baseline).toBeCloseTo(Math.log(2), 10);
    expect(() => noisySequenceTask({ symbols: 2 })).toThrow(/task.symbols: must be an integer >= 3 \(got 2\)/);
  });
});

describe('adding baseline', () => {
  it('predicting 1 scores ≈ 1/6 MSE under the task loss', () => {
    const task = addingTask({ length: 20 });
    const batch = task.batch(4000, createRng(13));
    expect(lossOf(task, batch, new Float32Array(4000).fill(1))).toBeCloseTo(1 / 6, 2);
    expect(() => addingTask({ length: 1 })).toThrow(/task.length: must be an integer >= 2 \(got 1\)/);
  });
});
