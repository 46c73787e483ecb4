import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { loadModel } from '@cellstack/core';
import { cliRuntime } from '../src/runtime.js';
import { compileSpec } from '../src/spec.js';
import { cli, readLines, spec, tmp, TINY } from './helpers.js';

describe('gradient-norm log', () => {
  it('records each step\'s global gradient norm (before clipping) in metrics.jsonl', async () => {
    const dir = tmp();
    const file = spec(dir, 'tiny.rnn', TINY);
    const run = join(dir, 'run');
    const r = await cli(['train', file, '--out', run, '--steps', '1', '--optimizer', 'sgd', '--lr', '0.1', '--clip', '1e9', '--progress', 'none']);
    expect(r.code).toBe(0);
    const [line] = readLines(join(run, 'metrics.jsonl')) as unknown as Array<{ gradNorm: number }>;
    // Independently: one plain SGD step moves the weights by lr × gradient, so ‖Δw‖ / lr is the norm.
    const { runtime } = await cliRuntime('wasm');
    const initial = (await compileSpec(file, { runtime })).model!;
    const trained = await loadModel(join(run, 'model'));
    const w0 = initial.getWeights().map((w) => w.dataSync());
    const w1 = trained.getWeights().map((w) => w.dataSync());
    let sq = 0;
    w0.forEach((a, i) => a.forEach((v, j) => (sq += (w1[i][j] - v) ** 2)));
    expect(line.gradNorm).toBeGreaterThan(0);
    expect(line.gradNorm).toBeCloseTo(Math.sqrt(sq) / 0.1, 3);
    initial.dispose();
    trained.dispose();
  });
});
