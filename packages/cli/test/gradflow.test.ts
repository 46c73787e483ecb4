import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, expectChart, spec, tmp } from './helpers.js';

describe('cellstack gradflow', () => {
  it('writes the lattice heatmap (SVG, PNG) and the numbers (JSON)', async () => {
    const dir = tmp();
    const file = spec(dir, 'deep.rnn', 'input [null, 2]\nSimpleRNN(3) x2 -> STAR(3) -> last -> dense(1)\n');
    const r = await cli(['gradflow', file, '--time', '4', '--runs', '2', '--batch', '2', '--out', join(dir, 'out')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('3 cell layers × 4 steps');
    expect(r.stdout).toMatch(/first-to-last-layer gradient ratio: [\d.e+-]+ \(loss on the final output\)/);
    expectChart(join(dir, 'out', 'gradflow'));
    const g = JSON.parse(readFileSync(join(dir, 'out', 'gradflow.json'), 'utf8'));
    expect(g.cells).toEqual(['SimpleRNN', 'SimpleRNN', 'STAR']);
    expect(g.runs).toBe(2);
    for (const on of ['final', 'all']) {
      expect(g[on]).toHaveLength(3);
      for (const row of g[on]) {
        expect(row).toHaveLength(4);
        for (const v of row) expect(v).toBeGreaterThan(0);
      }
    }
    // ∂(Σ h_T)/∂h_T of the top layer is all ones: magnitude √3.
    expect(g.final[2][3]).toBeCloseTo(Math.sqrt(3), 4);
  });

  it('rejects a layer between cells, naming it', async () => {
    const dir = tmp();
    const file = spec(dir, 'norm.rnn', 'input [null, 2]\nLSTM(3) -> layerNorm -> LSTM(3) -> last -> dense(1)\n');
    const r = await cli(['gradflow', file, '--time', '3', '--runs', '1', '--out', join(dir, 'out')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("gradflow needs a plain stack of cells, but layer 2 is 'layerNorm'");
  });

  it('rejects a bad --time', async () => {
    const dir = tmp();
    const file = spec(dir, 'a.rnn', 'input [null, 2]\nLSTM(3) -> last -> dense(1)\n');
    const r = await cli(['gradflow', file, '--time', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("option '--time <n>' argument '0' is invalid. must be a whole number >= 1");
  });
});
