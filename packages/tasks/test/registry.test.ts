import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRng } from '@cellstack/core';
import { describe, expect, it } from 'vitest';
import { createTask, describeTaskOptions, findTask, tasks } from '@cellstack/tasks';

const text = join(mkdtempSync(join(tmpdir(), 'cellstack-reg-')), 't.txt');
writeFileSync(text, 'hello world, hello tasks. '.repeat(20));
const small: Record<string, Record<string, unknown>> = {
  copy: { lag: 5 }, 'copy-ur': { lag: 5 }, 'variable-copy': { maxLag: 6 }, denoise: { length: 12 },
  adding: { length: 10 }, 'adding-hs': { length: 20 }, 'temporal-order': { length: 30 },
  'noisy-sequence': { length: 8, symbols: 6 }, mnist: { size: 7 }, pmnist: { size: 7 }, 'char-lm': { file: text, length: 10 },
};

describe('task registry', () => {
  it('holds every task of the papers with documented options', () => {
    expect(Object.keys(tasks).sort()).toEqual(Object.keys(small).sort());
    for (const entry of Object.values(tasks)) {
      for (const o of describeTaskOptions(entry)) expect(o.description.length, `${entry.name}.${o.name}`).toBeGreaterThan(10);
    }
  });
  it('every task: shapes agree with inputShape/outputs and a seed fixes the data', () => {
    for (const [name, options] of Object.entries(small)) {
      const task = createTask(name, options);
      const a = task.batch(3, createRng(5));
      const b = task.batch(3, createRng(5));
      expect(a.x, name).toEqual(b.x);
      expect(a.y, name).toEqual(b.y);
      expect(a.x, name).not.toEqual(task.batch(3, createRng(6)).x);
      const [T, F] = task.inputShape;
      expect(a.xShape, name).toEqual([3, T ?? a.xShape[1], F]);
      expect(a.yShape, name).toEqual(task.perStep ? [3, a.xShape[1], task.outputs] : [3, task.outputs]);
      expect(a.x.length).toBe(a.xShape.reduce((p, q) => p * q, 1));
      expect(a.y.length).toBe(a.yShape.reduce((p, q) => p * q, 1));
      expect(task.baseline).toBeGreaterThan(0);
    }
  });
  it('names match ignoring case and separators; unknown names list the tasks with a guess', () => {
    expect(findTask('copyUR').name).toBe('copy-ur');
    expect(findTask('adding_hs').name).toBe('adding-hs');
    expect(findTask('TemporalOrder').name).toBe('temporal-order');
    expect(() => findTask('coppy')).toThrow(/task: unknown task 'coppy'; available: copy, .*\(did you mean copy\?\)/);
    expect(() => createTask('adding', { length: 'long' })).toThrow(/task.length: must be an integer >= 2 \(got 'long'\)/);
  });
});
