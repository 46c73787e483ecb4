import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '@cellstack/core';
import { describe, expect, it } from 'vitest';
import { cli, expectChart, noStack, readLines, spec, start, tmp, TINY, waitFor } from './helpers.js';

describe('cellstack train (subprocess)', () => {
  it('trains a spec with its train block and writes the whole run folder', async () => {
    const dir = tmp();
    const file = spec(dir, 'tiny.rnn', TINY);
    const out = join(dir, 'run');
    const r = await cli(['train', file, '--out', out, '--val-size', '8', '--checkpoint-every', '3', '--progress', 'lines']);
    expect(r.code, r.stderr).toBe(0);
    noStack(r);
    expect(r.stderr).toMatch(/^backend: wasm — /m);
    expect(r.stderr).toMatch(/^kernels: whole-sequence \(per layer below\), products (native \((avx2\+fma(, gate math avx512f)?|neon), \d+ threads?\)|in wasm \(native addon: .+\))$/m);
    expect(r.stderr).toMatch(/^layer \w+ \(LSTM\): hand-written$/m);
    expect(r.stdout).toMatch(/trained 6 steps in/);
    expect(r.stdout).toMatch(/validation \(8 held-out examples\): loss \d+\.\d+, accuracy/);
    expect(r.stdout).toContain(`chart: ${join(out, 'loss.svg')}`);
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    expect(run).toMatchObject({
      status: 'completed',
      steps: 6,
      backend: { requested: 'auto', name: 'wasm' },
      kernels: { fused: true, layers: [{ cell: 'LSTM', path: 'hand-written' }] },
      task: { name: 'copy', options: { lag: 2, symbols: 2 } },
      settings: { steps: 6, batch: 4, seed: 3, optimizer: 'adam', learningRate: 1e-3, checkpointEvery: 3, valSize: 8 },
    });
    expect(run.kernels.threads).toBe(run.kernels.native ? availableParallelism() : 1);
    expect(run.task.baseline).toBeCloseTo((2 * Math.log(8)) / 6, 10);
    expect(run.versions['tfjs-core']).toBe('4.22.0');
    expect(run.validation.examples).toBe(8);
    expect(readLines(join(out, 'metrics.jsonl')).map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(readFileSync(join(out, 'spec.rnn'), 'utf8')).toBe(TINY);
    expectChart(join(out, 'loss'));
    const model = await loadModel(join(out, 'model'));
    expect(model.countParams()).toBe(run.params);
    expect(model.outputs[0].shape).toEqual([null, 6, 9]);
    model.dispose();
  });

  it('resumes after a hard kill: steps continue, no metrics line lost or duplicated', async () => {
    const dir = tmp();
    const file = spec(dir, 'tiny.rnn', TINY);
    const out = join(dir, 'run');
    const { child, done } = start(['train', file, '--out', out, '--steps', '100000', '--checkpoint-every', '4', '--val-size', '4', '--progress', 'none']);
    const ckpt = join(out, 'checkpoint.json');
    await waitFor(() => existsSync(ckpt) && JSON.parse(readFileSync(ckpt, 'utf8')).step >= 8);
    await new Promise((r) => setTimeout(r, 300)); // let it run past the checkpoint
    child.kill('SIGKILL');
    await done;
    const saved = JSON.parse(readFileSync(ckpt, 'utf8')).step as number;
    const before = readLines(join(out, 'metrics.jsonl'));
    const r = await cli(['train', '--resume', out, '--steps', String(saved + 6), '--progress', 'none']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`resuming ${out} at step ${saved}/${saved + 6}`);
    const after = readLines(join(out, 'metrics.jsonl'));
    expect(after.map((l) => l.step)).toEqual(Array.from({ length: saved + 6 }, (_, i) => i + 1));
    expect(after.slice(0, saved)).toEqual(before.slice(0, saved)); // lines up to the checkpoint kept as they were
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    expect(run).toMatchObject({ status: 'completed', steps: saved + 6 });
    expectChart(join(out, 'loss'));
  });

  it('Ctrl-C saves a checkpoint and exits 130; --resume finishes the run', async () => {
    const dir = tmp();
    const file = spec(dir, 'tiny.rnn', TINY);
    const out = join(dir, 'run');
    const { child, done } = start(['train', file, '--out', out, '--steps', '100000', '--checkpoint-every', '1000', '--val-size', '4', '--progress', 'none']);
    await waitFor(() => existsSync(join(out, 'run.json')) && readFileSync(join(out, 'run.json'), 'utf8').includes('running'));
    await new Promise((r) => setTimeout(r, 1500));
    child.kill('SIGINT');
    const r = await done;
    expect(r.code, r.stderr).toBe(130);
    noStack(r);
    expect(r.stderr).toMatch(/SIGINT: saved a checkpoint at step (\d+); continue with: cellstack train --resume/);
    const step = Number(/at step (\d+);/.exec(r.stderr)![1]);
    expect(JSON.parse(readFileSync(join(out, 'checkpoint.json'), 'utf8')).step).toBe(step);
    expect(readLines(join(out, 'metrics.jsonl'))).toHaveLength(step);
    expect(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).status).toBe('interrupted');
    const resumed = await cli(['train', '--resume', out, '--steps', String(step + 2), '--progress', 'none']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(readLines(join(out, 'metrics.jsonl')).map((l) => l.step)).toEqual(Array.from({ length: step + 2 }, (_, i) => i + 1));
  });
});
