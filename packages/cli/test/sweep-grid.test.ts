import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { createRuntime } from '@cellstack/core';
import { cells as rruCells, rruParamCount } from '@cellstack/cell-rru';
import { describe, expect, it } from 'vitest';
import { expandGrid, parseGridFlag, type RunFlags } from '../src/sweep-grid.js';
import { groupResults, stepsTo, writeResults, type RunResult, type SweepPlan } from '../src/sweep-results.js';
import { makePlan, readSweepFile } from '../src/sweep.js';
import { expectChart, ROOT, spec, tmp } from './helpers.js';

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

describe('sweep files and plans', () => {
  it('the RRU example expands to the grid of tools/paper/rru.ts: 5 learning rates × 3 budgets, each cell sized to its budget', async () => {
    const plan = await makePlan([join(ROOT, 'examples/sweeps/rru-robustness.json')], { backend: 'cpu', progress: 'none', out: tmp() });
    expect(plan.runs).toHaveLength(30);
    expect(plan.threshold).toBeCloseTo(0.1 / 6, 12);
    expect(plan.taskText).toBe('adding(length: 12)');
    const pick = (name: string) => plan.runs.find((r) => r.name === name)!;
    expect(pick('rru-lr0.003-budget8-seed1').source).toContain('RRU(units: 8, outputSize: 8, dropout: 0) -> last -> dense(1)');
    expect(pick('rru-lr0.003-budget8-seed1').flags).toMatchObject({ lr: 0.003, seed: 1, valSize: 256 });
    expect(pick('lstm-lr0.0001-budget23-seed1').source).toContain('LSTM(units: 23) -> last -> dense(1)');
    // Recurrent-layer parameters within the budgets 150 / 600 / 2400 (the head, n + 1, is not counted).
    // As rru.ts: the largest n within each budget (one more unit would not fit).
    const lstm = (n: number) => 4 * n * (2 + n) + 4 * n;
    const rru = (n: number) => rruParamCount({ units: n, outputSize: n, q: 2, reluLayers: 1, singleZ: false }, 2);
    for (const [count, sizes] of [[lstm, [4, 10, 23]], [rru, [3, 8, 18]]] as const) {
      sizes.forEach((n, i) => {
        expect(count(n)).toBeLessThanOrEqual([150, 600, 2400][i]);
        expect(count(n + 1)).toBeGreaterThan([150, 600, 2400][i]);
      });
    }
  });

  it('rejects bad sweep files with the file and key', async () => {
    const dir = tmp();
    const write = (name: string, text: string) => spec(dir, name, text);
    await expect(readSweepFile(write('a.json', '{"specs": ["x.rnn"], "gird": {}}'))).rejects.toThrow(/a\.json: gird: unknown key; keys: specs, grid, seeds/);
    await expect(readSweepFile(write('b.json', '{"grid": {}}'))).rejects.toThrow(/b\.json: specs: expected a list of \.rnn files$/);
    await expect(readSweepFile(write('c.json', '{"specs": ["x.rnn"], "grid": {"lr": []}}'))).rejects.toThrow(/c\.json: grid\.lr: expected a non-empty list/);
    await expect(readSweepFile(write('d.json', '{"specs": ["x.rnn"], "grid": {"n": {"a": [1, 2], "b": [3]}}}'))).rejects.toThrow(/d\.json: grid\.n: the lists per spec must have the same length/);
    await expect(readSweepFile(write('e.json', '{"specs": '))).rejects.toThrow(/e\.json: not valid JSON/);
    await expect(readSweepFile(join(dir, 'none.json'))).rejects.toThrow(/cannot read sweep file '.*none\.json': no such file/);
    const ok = await readSweepFile(write('f.json', '{"specs": ["m.rnn"], "grid": {"n": {"m": {"LSTM.units": [1, 2]}}}, "steps": 5}'));
    expect(ok).toEqual({ specs: [join(dir, 'm.rnn')], axes: [{ key: 'n', values: { m: [1, 2] }, keys: { m: 'LSTM.units' } }], flags: { steps: 5 } });
  });

  it('a 1-key grid gets lines with min–max bands over seeds; the table is sorted by the median final loss', async () => {
    const out = tmp();
    const plan = { id: 's', out, taskText: 'copy', seeds: 2, threshold: 0.5, axes: [{ key: 'lr', values: [0.001, 0.01, 0.1] }], runs: [] } as unknown as SweepPlan;
    const results: RunResult[] = [0.001, 0.01, 0.1].flatMap((lr, i) => [1, 2].map((seed) => ({ name: `m-lr${lr}-seed${seed}`, spec: 'm', values: { lr }, seed, status: 'completed' as const, finalLoss: [0.8, 0.3, 0.5][i] + seed / 100, stepsToThreshold: null, validation: { examples: 1, loss: 1, metrics: {} } })));
    const { md, files } = await writeResults(plan, results, 1);
    expect(files.map((f) => f.slice(out.length + 1))).toEqual(['sweep.json', 'sweep.md', 'sweep-lines.svg']);
    expectChart(join(out, 'sweep-lines'));
    expect(md.split('\n').slice(2).map((l) => l.split(' | ')[1])).toEqual(['0.01', '0.1', '0.001']);
    expect(md).toContain('| m | 0.01 | 0.3150 | [0.3100, 0.3200] | 0/2 | — | 1.0000 |');
  });
});
