import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, expectChart, noStack, readLines, spec, tmp } from './helpers.js';

const losses2 = (root: string, seed: number) => readLines(join(root, 'runs', `lstm-seed${seed}`, 'metrics.jsonl')).map((l) => l.loss);

describe('cellstack compare (subprocess)', () => {
  it('trains every spec on the same task and seeds; writes chart, table and JSON', async () => {
    const dir = tmp();
    const a = spec(dir, 'lstm.rnn', 'input [null, 10]\nLSTM(4) -> dense(9)\n');
    const b = spec(dir, 'gru.rnn', 'input [null, 10]\nGRU(3) -> dense(9, activation: softmax)\n');
    const out = join(dir, 'cmp');
    const common = ['--task', 'copy(lag: 2, symbols: 2)', '--seeds', '2', '--steps', '4', '--batch', '4', '--val-size', '4', '--progress', 'lines'];
    const r = await cli(['compare', a, b, ...common, '--jobs', '1', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    noStack(r);
    expect(r.stdout).toMatch(/copy\(lag: 2, symbols: 2\): 4 steps, batch 4, 2 seed\(s\); memoryless baseline 0\.6931/);
    expect(r.stdout).toMatch(/^spec\s+params\s+final loss \(median \[min, max\]\)\s+val loss\s+val accuracy\s+steps to < 0\.3466\s+steps\/s$/m);
    const params = JSON.parse(readFileSync(join(out, 'runs', 'lstm-seed1', 'run.json'), 'utf8')).params;
    expect(params).toBe(4 * 4 * (10 + 4 + 1) + 4 * 9 + 9);
    expect(r.stdout).toMatch(new RegExp(`^lstm\\s+${params}\\s`, 'm'));
    expect(r.stdout).toMatch(/^gru\s+\d+\s/m);
    expect(r.stdout).toContain(`chart: ${join(out, 'compare.svg')}`);
    expect(r.stdout).toMatch(/What to look at: the final loss as a share of the memoryless baseline 0\.6931/);
    expectChart(join(out, 'compare'));
    const result = JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8'));
    expect(result.rows.map((row: { spec: string }) => row.spec)).toEqual(['lstm', 'gru']);
    expect(result.failed).toEqual([]);
    // Same seed, same data: the two specs' runs of seed 1 saw the same batches (and seeds 1 and 2 differ).
    const runs = (name: string) => JSON.parse(readFileSync(join(out, 'runs', name, 'run.json'), 'utf8'));
    expect(runs('lstm-seed1').settings.seed).toBe(1);
    expect(runs('gru-seed2').settings.seed).toBe(2);
    expect(readLines(join(out, 'runs', 'lstm-seed1', 'metrics.jsonl'))).toHaveLength(4);
    expect(readFileSync(join(out, 'compare.md'), 'utf8')).toContain(`| lstm | ${params} |`);

    // Parallel runs in child processes see the same seeds and data: identical losses.
    const par = await cli(['compare', a, ...common, '--jobs', '2', '--out', join(dir, 'par')]);
    expect(par.code, par.stderr).toBe(0);
    expect(par.stderr).toContain('2 processes at a time');
    for (const seed of [1, 2]) {
      const losses = (root: string) => readLines(join(root, 'runs', `lstm-seed${seed}`, 'metrics.jsonl')).map((l) => l.loss);
      expect(losses(join(dir, 'par'))).toEqual(losses(out));
    }
    expect(losses2(out, 1)).not.toEqual(losses2(out, 2));
  });
});

describe('lookAt', () => {
  it('names each spec’s final loss as a share of the baseline, best first', async () => {
    const { lookAt } = await import('../src/compare.js');
    const row = (spec: string, median: number) => ({ spec, finalLoss: { median, min: median, max: median } });
    const line = lookAt([row('lstm', 0.17), row('nru', 0.123)], 0.1733);
    expect(line).toContain('memoryless baseline 0.1733');
    expect(line).toMatch(/nru 71 %, lstm 98 %\./);
  });
});
