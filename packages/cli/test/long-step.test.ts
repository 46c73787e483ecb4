import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, nodeArgs, readLines, ROOT, spec, tmp, waitFor, type Result } from './helpers.js';

// One step of this model on the generic step loop (CELLSTACK_FUSED=0) takes about 50 s on the
// 2-core development machine (6004 time steps of many small ops, forward and backward); on
// its fused kernel about 0.1 s. So a few fused steps complete at once, and a resumed step on
// the step loop is long enough to be interrupted in the middle with a wide margin.
const LONG = `input [null, 10]
LSTM(4) -> dense(9, activation: softmax)
train {
  task: copy(lag: 6000, symbols: 2)
  batch: 1
  seed: 3
}
`;
const STALL = resolve(ROOT, 'packages/cli/test/fixtures/stall-cell.ts');
const common = ['--checkpoint-every', '2', '--val-size', '1', '--progress', 'none'];

/** `cellstack train` with its stderr readable while it runs. */
function launch(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, nodeArgs(['train', ...args]), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CELLSTACK_BACKEND: 'wasm', ...env } });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d) => (out.stdout += d));
  child.stderr.on('data', (d) => (out.stderr += d));
  const done = new Promise<Result & { at: number }>((res) => child.on('close', (code) => res({ code, ...out, at: Date.now() })));
  return { child, out, done };
}

/** Send `sig` once the steps have started (the folder line is the last before them) and a second has passed. */
async function signalDuringStep(run: ReturnType<typeof launch>, sig: NodeJS.Signals) {
  await waitFor(() => /^run folder: /m.test(run.out.stderr), 120000);
  await new Promise((r) => setTimeout(r, 1000));
  const sentAt = Date.now();
  run.child.kill(sig);
  const r = await run.done;
  return { ...r, seconds: (r.at - sentAt) / 1000 };
}

const json = (file: string) => JSON.parse(readFileSync(file, 'utf8'));
const untimed = (file: string) => readLines(file).map((l) => ({ ...l, time: 0 }));
const weights = (run: string) => {
  const name = readdirSync(join(run, 'model')).find((f) => f.startsWith('weights-'))!;
  return readFileSync(join(run, 'model', name));
};

describe('a signal during one long synchronous step', () => {
  it('SIGTERM stops the step loop mid-step: exit 130, the last completed step saved, and the resumed run is bit-identical', async () => {
    const dir = tmp();
    const file = spec(dir, 'long.rnn', LONG);
    const straight = join(dir, 'straight');
    const whole = await cli(['train', file, '--out', straight, '--steps', '4', ...common]);
    expect(whole.code, whole.stderr).toBe(0);
    const run = join(dir, 'run');
    const first = await cli(['train', file, '--out', run, '--steps', '2', ...common]);
    expect(first.code, first.stderr).toBe(0);

    // Step 3 on the step loop: interrupted a second into it.
    const r = await signalDuringStep(launch(['--resume', run, '--steps', '4', ...common], { CELLSTACK_FUSED: '0' }), 'SIGTERM');
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stderr).toContain('SIGTERM: step 3 abandoned');
    expect(r.stderr).toMatch(/SIGTERM: saved a checkpoint at step 2; continue with: cellstack train --resume/);
    // Stopped at the next time step, long before the ~50 s step would have ended (the bound is
    // generous for a loaded machine: saving the checkpoint and exiting are in it).
    expect(r.seconds).toBeLessThan(15);
    expect(json(join(run, 'run.json'))).toMatchObject({ status: 'interrupted', steps: 2 });
    expect(json(join(run, 'checkpoint.json')).step).toBe(2);
    expect(readLines(join(run, 'metrics.jsonl')).map((l) => l.step)).toEqual([1, 2]);
    expect(existsSync(join(run, 'lock.json'))).toBe(false);

    // The abandoned step left no trace: resumed (fused again) the run equals the uninterrupted one bit for bit.
    const resumed = await cli(['train', '--resume', run, '--steps', '4', ...common]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(untimed(join(run, 'metrics.jsonl'))).toEqual(untimed(join(straight, 'metrics.jsonl')));
    expect(weights(run).equals(weights(straight))).toBe(true);
  }, 300000);

  it('Ctrl-C during the first step: exit 130, a checkpoint of step 0, run.json interrupted', async () => {
    const dir = tmp();
    const run = join(dir, 'run');
    const r = await signalDuringStep(launch([spec(dir, 'long.rnn', LONG), '--out', run, '--steps', '4', ...common], { CELLSTACK_FUSED: '0' }), 'SIGINT');
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toContain('SIGINT: step 1 abandoned');
    expect(r.stderr).toMatch(/SIGINT: saved a checkpoint at step 0; continue with: cellstack train --resume/);
    expect(r.seconds).toBeLessThan(15);
    expect(json(join(run, 'run.json'))).toMatchObject({ status: 'interrupted', steps: 0 });
    expect(json(join(run, 'checkpoint.json')).step).toBe(0);
    expect(readFileSync(join(run, 'metrics.jsonl'), 'utf8')).toBe('');
  }, 120000);

  // A step that never reaches a check (a cell blocking its thread for 60 s).
  const stalled = (env: Record<string, string>) => {
    const dir = tmp();
    const file = spec(dir, 'stall.rnn', LONG.replace('LSTM(4)', 'Stall(4)').replace('lag: 6000', 'lag: 2'));
    const run = join(dir, 'run');
    return { run, launched: launch([file, '--out', run, '--steps', '3', ...common], { CELLSTACK_PLUGINS: STALL, CELLSTACK_FUSED: '0', ...env }) };
  };

  it('a step that does not stop within the grace period has its thread terminated: exit 130, run.json interrupted, the folder released', async () => {
    const { run, launched } = stalled({ CELLSTACK_STOP_GRACE: '2' });
    const r = await signalDuringStep(launched, 'SIGTERM');
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toContain('SIGTERM: the step did not stop within 2 s; its thread was terminated; no checkpoint was saved yet; continue with: cellstack train --resume');
    expect(r.seconds).toBeGreaterThanOrEqual(1.9);
    expect(r.seconds).toBeLessThan(30); // the stall lasts 60 s
    expect(json(join(run, 'run.json'))).toMatchObject({ status: 'interrupted', steps: 0 });
    expect(existsSync(join(run, 'lock.json'))).toBe(false);
  }, 120000);

  it('a second Ctrl-C quits at once, without waiting for the step', async () => {
    const { run, launched } = stalled({});
    await waitFor(() => /^run folder: /m.test(launched.out.stderr), 120000);
    await new Promise((r) => setTimeout(r, 1000)); // into the stalled step, as signalDuringStep: sent earlier, the first Ctrl-C alone stops it
    launched.child.kill('SIGINT');
    await waitFor(() => launched.out.stderr.includes('SIGINT: stopping'));
    await new Promise((r) => setTimeout(r, 1500)); // a second apart: not the same Ctrl-C delivered twice
    const sentAt = Date.now();
    launched.child.kill('SIGINT');
    const r = await launched.done;
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toContain('SIGINT: quit without saving the step in progress');
    expect((r.at - sentAt) / 1000).toBeLessThan(20); // the default grace (10 s) never ran out
    expect(json(join(run, 'run.json')).status).toBe('interrupted');
    expect(existsSync(join(run, 'lock.json'))).toBe(false);
  }, 120000);
});
