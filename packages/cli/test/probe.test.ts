import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, expectChart, spec, tmp, TINY } from './helpers.js';

describe('cellstack probe', () => {
  it('writes the forget-gate histogram of a spec and of its trained run', async () => {
    const dir = tmp();
    const file = spec(dir, 'tiny.rnn', TINY);
    const fresh = await cli(['probe', file, '--signal', 'forget', '--batch', '8', '--out', join(dir, 'before')]);
    expect(fresh.stderr).toBe('');
    expect(fresh.code).toBe(0);
    expect(fresh.stdout).toMatch(/\(LSTM\): forget mean 0\.\d{3}, units/);
    expectChart(join(dir, 'before', 'probe-forget'));
    const before = JSON.parse(readFileSync(join(dir, 'before', 'probe-forget.json'), 'utf8'));
    expect(before.state).toBe('untrained');
    expect(before.layers).toHaveLength(1);
    expect(before.layers[0].cell).toBe('LSTM');
    expect(before.layers[0].unitMeans).toHaveLength(4);
    for (const v of before.layers[0].unitMeans) expect(v > 0 && v < 1).toBe(true);

    const run = join(dir, 'run');
    expect((await cli(['train', file, '--out', run, '--progress', 'none'])).code).toBe(0);
    const trained = await cli(['probe', run, '--signal', 'forget', '--batch', '8', '--out', join(dir, 'after')]);
    expect(trained.code).toBe(0);
    const after = JSON.parse(readFileSync(join(dir, 'after', 'probe-forget.json'), 'utf8'));
    expect(after.state).toBe('trained 6 steps');
    expect(after.task).toBe(before.task);
    // Six Adam steps move the gates.
    expect(after.layers[0].unitMeans).not.toEqual(before.layers[0].unitMeans);
  });

  it('names the signals a model has when asked for another', async () => {
    const dir = tmp();
    const file = spec(dir, 'tiny.rnn', TINY);
    const r = await cli(['probe', file, '--signal', 'k', '--out', join(dir, 'o')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("no cell layer of this model emits the signal 'k'; they emit: input, forget, output, c");
  });
});
