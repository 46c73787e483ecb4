import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, expectChart, noStack, readLines, spec, start, tmp, TINY, waitFor } from './helpers.js';

// A real Redis (Debian's redis-server) on 127.0.0.1 and a free port, started here and stopped after.
// CI installs it and sets CELLSTACK_REQUIRE_REDIS=1, so there these tests cannot be skipped.
const hasRedis = spawnSync('redis-server', ['--version']).status === 0;
if (!hasRedis && process.env.CELLSTACK_REQUIRE_REDIS === '1') throw new Error('redis-server is not installed (apt-get install redis-server)');

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

// Generous timeouts for a loaded machine; each test takes well under a minute on two idle cores.
describe.skipIf(!hasRedis)('cellstack sweep on BullMQ workers (real Redis)', { timeout: 600_000 }, () => {
  let redis: ChildProcess;
  let url = '';
  const workers: ChildProcess[] = [];
  const worker = (store: string) => {
    // A lock timeout well above a training step even on a loaded machine: shorter, a busy worker could lose its run.
    const w = start(['worker', '--queue', url, '--store', store, '--lock-timeout', '10']);
    let log = '';
    w.child.stderr!.on('data', (d) => (log += d));
    workers.push(w.child);
    return { ...w, log: () => log };
  };

  beforeAll(async () => {
    const port = await freePort();
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    redis.stdout!.on('data', (d) => (out += d));
    await waitFor(() => out.includes('Ready to accept connections'), 20000);
    url = `redis://127.0.0.1:${port}/0`;
  });
  afterAll(() => {
    for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
    redis?.kill('SIGTERM');
  });

  it('a wrong URL or a dead server is a one-line error, for the sweep and the worker', async () => {
    const dir = tmp();
    const file = spec(dir, 'tiny.rnn', TINY);
    const closed = `redis://127.0.0.1:${await freePort()}`;
    for (const args of [['sweep', file, '--queue', closed, '--out', join(dir, 'o')], ['worker', '--queue', closed]]) {
      const r = await cli(args);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`error: cannot reach Redis at ${closed}: connection refused (is the server running? cellstack never starts one)\n`);
    }
    expect(existsSync(join(dir, 'o'))).toBe(false); // nothing planned or written
    const bad = await cli(['sweep', file, '--queue', 'http://127.0.0.1:1']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe("error: --queue 'http://127.0.0.1:1': expected redis://host:port/db (got the scheme http)\n");
    const attach = await cli(['sweep', '--attach', 'sweep-nope', '--queue', url]);
    expect(attach.code).toBe(2);
    expect(attach.stderr).toBe(`error: --attach sweep-nope: no sweep with that id on ${url}\n`);
  });

  it('2 × 2 grid × 2 seeds on two workers: every run collected once, the same losses as the local pool', async () => {
    const dir = tmp();
    const file = spec(dir, 'tiny.rnn', TINY);
    const store = join(dir, 'store');
    const w1 = worker(store);
    const w2 = worker(store);
    const grid = ['--grid', 'lr=0.01,0.1', '--grid', 'LSTM.units=3,4', '--seeds', '2', '--val-size', '4', '--progress', 'lines'];
    const q = await cli(['sweep', file, ...grid, '--queue', url, '--out', join(dir, 'queue')]);
    expect(q.code, q.stderr).toBe(0);
    noStack(q);
    expect(q.stderr).toMatch(/sweep: done 8\/8, running 0, failed 0, queued 0/);
    const names = ['0.01', '0.1'].flatMap((lr) => ['3', '4'].flatMap((u) => [1, 2].map((s) => `tiny-lr${lr}-LSTM_units${u}-seed${s}`)));
    const result = JSON.parse(readFileSync(join(dir, 'queue', 'sweep.json'), 'utf8'));
    expect(result.runs.map((r: { name: string }) => r.name).sort()).toEqual([...names].sort());
    expect(result.runs.every((r: { status: string }) => r.status === 'completed')).toBe(true);
    // Both workers trained some of the runs; each run's metrics are there once, steps 1..6.
    expect(w1.log()).toMatch(/: completed at step 6/);
    expect(w2.log()).toMatch(/: completed at step 6/);
    const started = (w1.log() + w2.log()).match(/: start \(attempt/g) ?? [];
    expect(started).toHaveLength(8);
    for (const n of names) expect(readLines(join(dir, 'queue', 'runs', n, 'metrics.jsonl')).map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(result.groups).toHaveLength(4);
    const medians = result.groups.map((g: { finalLoss: { median: number } }) => g.finalLoss.median);
    expect(medians).toEqual([...medians].sort((a, b) => a - b));
    const md = readFileSync(join(dir, 'queue', 'sweep.md'), 'utf8');
    expect(md).toMatch(/^\| spec \| lr \| LSTM\.units \| final loss \(median\) \| \[min, max\] over seeds \| trained \(< 0\.3466\) \| steps to threshold \(median\) \| val loss \(median\) \|$/m);
    expectChart(join(dir, 'queue', 'sweep-heatmap'));

    // The local pool (no server): the same runs, the same data, the same losses.
    const l = await cli(['sweep', file, ...grid, '--jobs', '2', '--out', join(dir, 'local')]);
    expect(l.code, l.stderr).toBe(0);
    expect(l.stderr).toContain('2 local processes at a time');
    const local = JSON.parse(readFileSync(join(dir, 'local', 'sweep.json'), 'utf8'));
    for (const n of names) {
      const losses = (root: string) => readLines(join(dir, root, 'runs', n, 'metrics.jsonl')).map((x) => x.loss);
      expect(losses('local')).toEqual(losses('queue'));
    }
    expect(local.groups).toEqual(result.groups);
    w1.child.kill('SIGTERM');
    w2.child.kill('SIGTERM');
  });

  it('kill -9 a worker mid-run and restart the sweep command: its run resumes elsewhere from the checkpoint; nothing lost or duplicated', async () => {
    const dir = tmp();
    const file = spec(dir, 'long.rnn', TINY.replace('steps: 6', 'steps: 150'));
    const store = join(dir, 'store');
    const w1 = worker(store);
    const w2 = worker(store);
    const sweep = start(['sweep', file, '--seeds', '2', '--checkpoint-every', '10', '--val-size', '4', '--progress', 'lines', '--queue', url, '--out', join(dir, 'out')]);
    let sweepErr = '';
    sweep.child.stderr!.on('data', (d) => (sweepErr += d));
    await waitFor(() => /--attach (sweep-\S+)/.test(sweepErr), 240000);
    const id = /--attach (sweep-\S+)/.exec(sweepErr)![1];
    // Wait until one run has a checkpoint at step >= 20 and is still training; kill its worker (and the sweep command).
    const runDir = (seed: number) => join(store, id, `long-seed${seed}`);
    const checkpointAt = (seed: number) => (existsSync(join(runDir(seed), 'checkpoint.json')) ? JSON.parse(readFileSync(join(runDir(seed), 'checkpoint.json'), 'utf8')).step : 0);
    let victim = 0;
    await waitFor(() => {
      for (const seed of [1, 2]) if (checkpointAt(seed) >= 20 && checkpointAt(seed) < 140) victim = seed;
      return victim > 0;
    }, 240000);
    const job = `${id}.long-seed${victim}`;
    await waitFor(() => w1.log().includes(`${job}: start`) || w2.log().includes(`${job}: start`));
    const owner = w1.log().includes(`${job}: start`) ? w1 : w2;
    const other = owner === w1 ? w2 : w1;
    expect(other.log()).not.toContain(`${job}: start`);
    const killedLog = other.log().length;
    owner.child.kill('SIGKILL');
    sweep.child.kill('SIGKILL');
    const killedAt = checkpointAt(victim);
    await Promise.all([owner.done, sweep.done]);

    // The sweep command restarts and follows the same sweep to the end.
    const again = await cli(['sweep', '--attach', id, '--queue', url, '--progress', 'lines']);
    expect(again.code, again.stderr).toBe(0);
    // Never twice at once: the other worker took the run only after the kill, and resumed it from the checkpoint.
    const after = other.log().slice(killedLog);
    expect(after).toMatch(new RegExp(`${job.replace(/\./g, '\\.')}: start \\(attempt 2\\)`));
    const resumed = new RegExp(`${job.replace(/\./g, '\\.')}: resuming \\S+ from its checkpoint at step (\\d+) \\(attempt 2\\)`).exec(after);
    expect(resumed, after).not.toBeNull();
    expect(Number(resumed![1])).toBeGreaterThanOrEqual(killedAt);
    expect(JSON.parse(readFileSync(join(dir, 'out', 'runs', `long-seed${victim}`, 'run.json'), 'utf8')).status).toBe('completed');
    for (const seed of [1, 2]) expect(readLines(join(dir, 'out', 'runs', `long-seed${seed}`, 'metrics.jsonl')).map((l) => l.step)).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
    const result = JSON.parse(readFileSync(join(dir, 'out', 'sweep.json'), 'utf8'));
    expect(result.runs.map((r: { name: string }) => r.name)).toEqual(['long-seed1', 'long-seed2']);
    expect(killedAt).toBeGreaterThanOrEqual(20);
    other.child.kill('SIGTERM');
  });
});
