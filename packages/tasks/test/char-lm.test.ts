import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRng } from '@cellstack/core';
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { charLMTask, derivedMetrics, taskMetrics } from '@cellstack/tasks';
import { lossOf, symbolAt, symbols } from './helpers.js';

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

describe('charLMTask with one sequence per line', () => {
  const linesFile = join(dir, 'lines.txt');
  writeFileSync(linesFile, 'abc\nab\n\nx\nabcabc\r\nba\ncab\n'); // the empty line and 'x' predict nothing: skipped

  it('each example is one whole line, zero-padded at the end, with its mask; the last lines validate', () => {
    const task = charLMTask({ file: linesFile, length: 6, lines: true, validation: 0.2 });
    expect(task.padded).toBe(true);
    expect(task.inputShape).toEqual([6, 3]);
    expect(task.trainSize).toBe(4); // abc, ab, abcabc, ba; validation: cab
    const b = task.batch(20, createRng(4));
    const real = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const m = Array.from(b.mask!.subarray(i * 6, (i + 1) * 6));
      const n = m.filter((v) => v === 1).length;
      expect(m.slice(n).every((v) => v === 0)).toBe(true);
      const text = (a: Float32Array) => Array.from({ length: n }, (_, t) => 'abc'[symbolAt(a, i * 6 + t, 3)]).join('');
      const [xs, ys] = [text(b.x), text(b.y)];
      real.add(xs[0] + ys);
      expect(Array.from(b.x.subarray((i * 6 + n) * 3, (i + 1) * 18)).every((v) => v === 0)).toBe(true);
      expect(Array.from(b.y.subarray((i * 6 + n) * 3, (i + 1) * 18)).every((v) => v === 0)).toBe(true);
    }
    expect([...real].sort()).toEqual(['ab', 'abc', 'abcabc', 'ba']);
    const v = task.batch(3, createRng(1), 'validation');
    expect([symbolAt(v.x, 0, 3), symbolAt(v.x, 1, 3)]).toEqual([2, 0]); // 'ca' → predicts 'ab'
  });

  it('ids are shifted by one so 0 is padding (embedding(vocab + 1, dim, maskZero: true))', () => {
    const task = charLMTask({ file: linesFile, length: 6, lines: true, input: 'ids' });
    const b = task.batch(10, createRng(2));
    for (let i = 0; i < 10; i++) {
      const n = b.mask!.subarray(i * 6, (i + 1) * 6).reduce((a, c) => a + c, 0);
      const ids = Array.from(b.x.subarray(i * 6, (i + 1) * 6));
      expect(ids.slice(0, n).every((v) => v >= 1 && v <= 3)).toBe(true);
      expect(ids.slice(n).every((v) => v === 0)).toBe(true);
    }
  });

  it('the loss and accuracy count real steps only: padding adds nothing, whatever is predicted there', () => {
    const task = charLMTask({ file: linesFile, length: 6, lines: true });
    const batch = task.batch(8, createRng(6));
    const uniform = new Float32Array(8 * 6 * 3).fill(1 / 3);
    expect(lossOf(task, batch, uniform)).toBeCloseTo(Math.log(3), 5);
    // Perfect at real steps, wrong at padding: loss ~0, accuracy 1.
    const perfect = Float32Array.from(batch.y, (v, i) => (batch.mask![Math.floor(i / 3)] ? (v ? 1 : 0) : i % 3 === 0 ? 1 : 0));
    expect(lossOf(task, batch, perfect)).toBeLessThan(1e-5);
    const [accuracy] = taskMetrics(task);
    const acc = tf.tidy(() => accuracy(tf.tensor(batch.y, batch.yShape), tf.tensor(perfect, batch.yShape)).dataSync()[0]);
    expect(acc).toBe(1);
  });

  it('rejects a file with fewer than two usable lines', () => {
    const one = join(dir, 'one.txt');
    writeFileSync(one, 'hello\nx\n');
    expect(() => charLMTask({ file: one, lines: true })).toThrow(/task.file: '.*one.txt' has 1 line\(s\) of two or more characters/);
  });
});
