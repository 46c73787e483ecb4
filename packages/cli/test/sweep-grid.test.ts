import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { createRuntime } from '@cellstack/core';
import { cells as rruCells } from '@cellstack/cell-rru';
import { describe, expect, it } from 'vitest';
import { expandGrid, parseGridFlag, type RunFlags } from '../src/sweep-grid.js';
import { groupResults, stepsTo, type RunResult, type SweepPlan } from '../src/sweep-results.js';
import { spec, tmp } from './helpers.js';

const base: RunFlags = { valSize: 8, backend: 'cpu' };
const rt = await createRuntime({ backend: 'cpu', cells: [...rruCells] });
const TWO = `input [null, 10]
# the model
LSTM(4) x2 -> dense(9, activation: softmax)
train {
  task: copy(lag: 2, symbols: 2)
  steps: 6
}
`;

describe('sweep grid', () => {
  it('reads --grid flags: numbers, booleans and words', () => {
    expect(parseGridFlag('lr=1e-4, 3e-4,1e-3')).toEqual({ key: 'lr', values: [1e-4, 3e-4, 1e-3] });
    expect(parseGridFlag('LSTM.chrono=true,false')).toEqual({ key: 'LSTM.chrono', values: [true, false] });
    expect(parseGridFlag('optimizer=adam,sgd')).toEqual({ key: 'optimizer', values: ['adam', 'sgd'] });
    expect(() => parseGridFlag('lr')).toThrow(/^--grid 'lr': expected key=value,value,…/);
    expect(() => parseGridFlag('lr=')).toThrow(/expected key=value/);
  });

  it('expands specs × grid × seeds in row-major order, editing layer options in the spec text and setting train flags', async () => {
    const dir = tmp();
    const file = spec(dir, 'two.rnn', TWO);
    const { runs, taskText } = await expandGrid([file], [parseGridFlag('lr=0.01,0.1'), parseGridFlag('LSTM.units=3,5')], 2, base, rt);
    expect(taskText).toBe('copy(lag: 2, symbols: 2)');
    expect(runs.map((r) => r.name)).toEqual([
      'two-lr0.01-LSTM_units3-seed1', 'two-lr0.01-LSTM_units3-seed2', 'two-lr0.01-LSTM_units5-seed1', 'two-lr0.01-LSTM_units5-seed2',
      'two-lr0.1-LSTM_units3-seed1', 'two-lr0.1-LSTM_units3-seed2', 'two-lr0.1-LSTM_units5-seed1', 'two-lr0.1-LSTM_units5-seed2',
    ]);
    const r = runs[2];
    expect(r.values).toEqual({ lr: 0.01, 'LSTM.units': 5 });
    expect(r.flags).toMatchObject({ lr: 0.01, seed: 1, task: 'copy(lag: 2, symbols: 2)', valSize: 8 });
    // Only the swept stage changes; its repeat, the comment and the train block stay as written.
    expect(r.source).toBe(TWO.replace('LSTM(4) x2', 'LSTM(units: 5) x2'));
    expect(r.baseline).toBeCloseTo(Math.log(2), 10);
    // An option the spec leaves at its default is still a key (from the cell's schema).
    const rru = spec(dir, 'rru.rnn', 'input [null, 10]\nRRU(4) -> dense(9, activation: softmax)\ntrain { task: copy(lag: 2, symbols: 2) }\n');
    const d = await expandGrid([rru], [parseGridFlag('dropout=0,0.5')], 1, base, rt);
    expect(d.runs[1].source).toContain('RRU(units: 4, dropout: 0.5) -> dense');
    expect(tf.memory().numTensors).toBe(0);
  });

  it('gives one-line errors for keys that match nothing or more than one place, and for bad values', async () => {
    const dir = tmp();
    const file = spec(dir, 'two.rnn', TWO);
    const expand = (g: string, s = file) => expandGrid([s], [parseGridFlag(g)], 1, base, rt);
    await expect(expand('foo=1')).rejects.toThrow(/^--grid foo: matches no train option \(lr, .*\) and no layer option of .*two\.rnn \(1\. LSTM\(units, forgetBias, chrono, tmax\); 2\. dense\(units, activation\)\)$/);
    await expect(expand('units=3')).rejects.toThrow(/^--grid units: matches 2 places in .*two\.rnn: LSTM \(3:1\), dense \(3:15\); name one, e\.g\. --grid LSTM\.units=…$/);
    await expect(expand('2.units=9')).resolves.toBeDefined(); // by position
    await expect(expand('GRU.units=3')).rejects.toThrow(/^--grid GRU\.units: matches no train option/);
    await expect(expand('lr=-1')).rejects.toThrow(/^--grid lr=-1: must be a number > 0$/);
    await expect(expand('optimizer=adamw')).rejects.toThrow(/^--grid optimizer=adamw: must be one of adam, sgd, rmsprop, momentum$/);
    await expect(expand('dense.activation=tanh')).rejects.toThrow(/^--grid dense\.activation=tanh: .*two\.rnn does not compile with it: .*not tanh/);
    await expect(expand('LSTM.units=0')).rejects.toThrow(/^--grid LSTM\.units=0: .*does not compile with it/);
    await expect(expandGrid([file], [parseGridFlag('lr=1'), parseGridFlag('lr=2')], 1, base, rt)).rejects.toThrow(/^--grid lr: given twice$/);
    await expect(expand('lr=1,1')).rejects.toThrow(/^--grid lr: the value 1 is given twice$/);
    // Per-spec values must name every spec.
    const other = join(dir, 'gru.rnn');
    writeFileSync(other, TWO.replace('LSTM(4) x2', 'GRU(3)'));
    await expect(expandGrid([file, other], [{ key: 'lr', values: { two: [0.1] } }], 1, base, rt)).rejects.toThrow(/^grid lr: gives values per spec but none for gru \(it has two\)$/);
  });

  it('per-spec values: the same position on an axis may mean a different value for each spec', async () => {
    const dir = tmp();
    const a = spec(dir, 'a.rnn', 'input [null, 10]\nLSTM(4) -> dense(9, activation: softmax)\ntrain { task: copy(lag: 2, symbols: 2) }\n');
    const b = spec(dir, 'b.rnn', 'input [null, 10]\nGRU(4) -> dense(9, activation: softmax)\ntrain { task: copy(lag: 2, symbols: 2) }\n');
    const { runs } = await expandGrid([a, b], [{ key: 'LSTM.units', values: { a: [2, 3] } }], 1, base, rt).catch(() => ({ runs: [] }));
    expect(runs).toEqual([]); // b has no LSTM: the key matches nothing there
    const ok = await expandGrid([a, b], [{ key: '1.units', values: { a: [2, 3], b: [5, 7] } }], 1, base, rt);
    expect(ok.runs.map((r) => [r.name, r.source.split('\n')[1]])).toEqual([
      ['a-1_units2-seed1', 'LSTM(units: 2) -> dense(9, activation: softmax)'],
      ['a-1_units3-seed1', 'LSTM(units: 3) -> dense(9, activation: softmax)'],
      ['b-1_units5-seed1', 'GRU(units: 5) -> dense(9, activation: softmax)'],
      ['b-1_units7-seed1', 'GRU(units: 7) -> dense(9, activation: softmax)'],
    ]);
  });
});

describe('sweep results', () => {
  it('steps to threshold: the first step where the smoothed loss is below it', () => {
    expect(stepsTo([3, 2, 1, 0.5, 0.4], 1.5)).toBe(3);
    expect(stepsTo([3, 2, 1], 0.5)).toBeNull();
  });

  it('groups seeds: median and min–max of the final loss, trained count, best first, failed last', () => {
    const plan = { threshold: 0.5, seeds: 3, axes: [{ key: 'lr', values: [0.1, 0.01] }] } as unknown as SweepPlan;
    const run = (lr: number, seed: number, finalLoss: number | null, steps: number | null): RunResult =>
      finalLoss === null ? { name: `x${lr}-${seed}`, spec: 'x', values: { lr }, seed, status: 'failed', error: 'boom' } : { name: `x${lr}-${seed}`, spec: 'x', values: { lr }, seed, status: 'completed', finalLoss, stepsToThreshold: steps, validation: { examples: 1, loss: finalLoss + 1, metrics: {} } };
    const groups = groupResults(plan, [run(0.1, 1, 0.9, null), run(0.1, 2, 0.3, 40), run(0.1, 3, 0.6, 60), run(0.01, 1, 0.2, 10), run(0.01, 2, null, null), run(0.01, 3, 0.4, 30)]);
    expect(groups.map((g) => g.values.lr)).toEqual([0.01, 0.1]);
    expect(groups[0]).toEqual({ spec: 'x', values: { lr: 0.01 }, finalLoss: { median: (0.2 + 0.4) / 2, min: 0.2, max: 0.4 }, trained: 2, seeds: 3, failed: 1, stepsToThreshold: 20, validationLoss: (0.2 + 1 + (0.4 + 1)) / 2 });
    expect(groups[1]).toMatchObject({ finalLoss: { median: 0.6, min: 0.3, max: 0.9 }, trained: 2, failed: 0, stepsToThreshold: 50 });
  });
});
