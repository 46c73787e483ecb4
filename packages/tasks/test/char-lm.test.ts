import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRng } from '@cellstack/core';
import { describe, expect, it } from 'vitest';
import { charLMTask, derivedMetrics } from '@cellstack/tasks';
import { lossOf, symbols } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'cellstack-lm-'));
const file = join(dir, 'text.txt');
writeFileSync(file, 'ab'.repeat(90) + 'cd'.repeat(10)); // training part: abab…, validation part: cdcd…

describe('charLMTask', () => {
  it('targets are the inputs shifted by one; splits come from the start and the end of the text', () => {
    const task = charLMTask({ file, length: 8 });
    expect(task.inputShape).toEqual([8, 4]);
    expect(task.outputs).toBe(4);
    const train = task.batch(5, createRng(1));
    const val = task.batch(5, createRng(1), 'validation');
    for (let b = 0; b < 5; b++) {
      const x = symbols(train.x, b, 8, 4);
      const y = symbols(train.y, b, 8, 4);
      expect(y.slice(0, 7)).toEqual(x.slice(1));
      expect(y[7]).toBe(1 - x[7]); // a ↔ b alternate
      expect(x.every((s) => s <= 1)).toBe(true);
      expect(symbols(val.x, b, 8, 4).every((s) => s >= 2)).toBe(true);
    }
  });
  it('baseline = unigram entropy, reached by predicting character frequencies; bpc = loss / ln 2', () => {
    const task = charLMTask({ file, length: 8 });
    expect(task.baseline).toBeCloseTo(Math.log(2), 10);
    const batch = task.batch(4, createRng(2));
    const p = new Float32Array(4 * 8 * 4);
    for (let r = 0; r < 32; r++) p.set([0.5, 0.5, 0, 0], r * 4);
    expect(lossOf(task, batch, p)).toBeCloseTo(task.baseline, 4);
    expect(derivedMetrics(task, Math.log(2)).bpc).toBeCloseTo(1, 10);
    const ids = charLMTask({ file, length: 8, input: 'ids' }).batch(1, createRng(3));
    expect(ids.xShape).toEqual([1, 8, 1]);
    expect([...ids.x].every((v) => v === 0 || v === 1)).toBe(true);
  });
  it('bad files give one-line errors naming task.file', () => {
    expect(() => charLMTask({ file: join(dir, 'missing.txt') })).toThrow(/task.file: cannot read '.*missing.txt' \(no such file\)/);
    expect(() => charLMTask({ file: dir })).toThrow(/task.file: cannot read .* \(it is a folder\)/);
    expect(() => charLMTask({ file, length: 50 })).toThrow(/task.file: .* too short: its validation part has 20 characters/);
    expect(() => charLMTask({} as never)).toThrow(/task.file: is required/);
  });
});
