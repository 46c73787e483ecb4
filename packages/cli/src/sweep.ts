import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import type { BackendChoice } from '@cellstack/core';
import { writeFileAtomic } from '@cellstack/core';
import cliProgress from 'cli-progress';
import { runChild } from './compare.js';
import { CliError, EXIT, usage } from './errors.js';
import { duration, type ProgressMode } from './progress.js';
import { defaultRunDir, RunFolder } from './run-folder.js';
import { cliRuntime } from './runtime.js';
import { expandGrid, parseGridFlag, type GridAxis, type RunFlags, type SweepRun } from './sweep-grid.js';
import { connect, enqueue, loadPlan, openQueue, pollRuns, redisReason, shownUrl, type RunState } from './sweep-queue.js';
import { readResult, writeResults, type RunResult, type SweepPlan } from './sweep-results.js';
import { readUserFile } from './spec.js';
import type { RunRecord } from './train.js';

export interface SweepFlags {
  grid?: string[];
  seeds?: number;
  task?: string;
  steps?: number;
  batch?: number;
  lr?: number;
  clip?: number;
  checkpointEvery?: number;
  valSize?: number;
  backend: BackendChoice;
  out?: string;
  jobs?: number;
  threshold?: number;
  queue?: string;
  attach?: string;
  progress: ProgressMode;
  allow?: string[];
}

/** The keys a sweep file may hold (beside the spec), with the flag each stands for. */
const FILE_KEYS = ['specs', 'grid', 'seeds', 'task', 'steps', 'batch', 'lr', 'clip', 'checkpointEvery', 'valSize', 'threshold'] as const;

/**
 * A sweep file: JSON with `specs` (relative to the file), `grid` ({key: [values]} or
 * {key: {spec: [values]}}) and any of the flags; flags on the command line win.
 */
export async function readSweepFile(file: string): Promise<{ specs: string[]; axes: GridAxis[]; flags: Partial<SweepFlags> }> {
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(await readUserFile(file, 'sweep file')) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`${file}: not valid JSON: ${(e as Error).message}`, EXIT.input);
  }
  const bad = (key: string, why: string) => new CliError(`${file}: ${key}: ${why}`, EXIT.input);
  if (!data || typeof data !== 'object' || Array.isArray(data)) throw bad('(top)', 'expected an object {"specs": [...], "grid": {...}}');
  for (const k of Object.keys(data)) if (!(FILE_KEYS as readonly string[]).includes(k)) throw bad(k, `unknown key; keys: ${FILE_KEYS.join(', ')}`);
  const specs = data.specs;
  if (!Array.isArray(specs) || !specs.length || !specs.every((s) => typeof s === 'string')) throw bad('specs', 'expected a list of .rnn files');
  const grid = (data.grid ?? {}) as Record<string, unknown>;
  if (typeof grid !== 'object' || Array.isArray(grid)) throw bad('grid', 'expected an object {"lr": [1e-3, 1e-2], …}');
  const scalar = (v: unknown) => typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean';
  const list = (key: string, v: unknown) => {
    if (!Array.isArray(v) || !v.length || !v.every(scalar)) throw bad(`grid.${key}`, 'expected a non-empty list of numbers, words or booleans');
    return v as Array<number | string | boolean>;
  };
  const axes: GridAxis[] = Object.entries(grid).map(([key, v]) => {
    if (Array.isArray(v)) return { key, values: list(key, v) };
    if (!v || typeof v !== 'object') throw bad(`grid.${key}`, 'expected a list of values, or one list per spec {"rru": [...], "lstm": [...]}');
    // Per spec: a list, or {"<key to set>": list} when the key differs between specs (RRU.units+outputSize vs LSTM.units).
    const keys: Record<string, string> = {};
    const perSpec = Object.fromEntries(
      Object.entries(v).map(([spec, l]) => {
        if (Array.isArray(l)) return [spec, list(`${key}.${spec}`, l)];
        const entries = l && typeof l === 'object' ? Object.entries(l) : [];
        if (entries.length !== 1) throw bad(`grid.${key}.${spec}`, 'expected a list of values, or {"<key>": [values]}');
        keys[spec] = entries[0][0];
        return [spec, list(`${key}.${spec}.${entries[0][0]}`, entries[0][1])];
      }),
    );
    const lengths = new Set(Object.values(perSpec).map((l) => l.length));
    if (lengths.size > 1) throw bad(`grid.${key}`, 'the lists per spec must have the same length (one position on the axis each)');
    return { key, values: perSpec, ...(Object.keys(keys).length ? { keys } : {}) };
  });
  const { specs: _s, grid: _g, ...rest } = data;
  return { specs: specs.map((s: string) => path.resolve(path.dirname(file), s)), axes, flags: rest as Partial<SweepFlags> };
}

const newId = () => `sweep-${new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}-${randomBytes(2).toString('hex')}`;

/** Check everything and expand the grid into runs; nothing trains yet. */
export async function makePlan(args: string[], flags: SweepFlags): Promise<SweepPlan> {
  const files = args.filter((a) => a.endsWith('.json'));
  if (files.length > 1) throw usage(`sweep takes one sweep file (got ${files.join(', ')})`);
  const fromFile = files.length ? await readSweepFile(files[0]) : { specs: [], axes: [], flags: {} };
  const f = { ...fromFile.flags, ...Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)) } as SweepFlags;
  const specs = [...fromFile.specs, ...args.filter((a) => !a.endsWith('.json'))];
  if (!specs.length) throw usage('sweep needs at least one spec file, or a sweep file (.json) naming them');
  const axes = [...fromFile.axes, ...(flags.grid ?? []).map(parseGridFlag)];
  const seeds = f.seeds ?? 1;
  if (!Number.isSafeInteger(seeds) || seeds < 1) throw usage(`seeds must be a whole number >= 1 (got ${seeds})`);
  const { runtime } = await cliRuntime('cpu');
  const base: RunFlags = { task: f.task, steps: f.steps, batch: f.batch, lr: f.lr, clip: f.clip, checkpointEvery: f.checkpointEvery, valSize: f.valSize ?? 1000, backend: f.backend, allow: f.allow };
  const { runs, taskText } = await expandGrid(specs, axes, seeds, base, runtime);
  const id = newId();
  return { id, createdAt: new Date().toISOString(), out: path.resolve(f.out ?? defaultRunDir('sweep')), specs: [...new Set(runs.map((r) => r.spec))], axes, seeds, taskText, threshold: f.threshold ?? null, runs };
}

/** `cellstack train` arguments for a run's shared flags. */
function trainArgs(flags: SweepRun['flags']): string[] {
  const args: string[] = [];
  const add = (flag: string, v: unknown) => v !== undefined && args.push(flag, String(v));
  add('--task', flags.task);
  add('--steps', flags.steps);
  add('--epochs', flags.epochs);
  add('--batch', flags.batch);
  add('--lr', flags.lr);
  add('--optimizer', flags.optimizer);
  add('--clip', flags.clip);
  add('--seed', flags.seed);
  add('--checkpoint-every', flags.checkpointEvery);
  add('--val-size', flags.valSize);
  add('--backend', flags.backend);
  for (const a of flags.allow ?? []) args.push('--allow', a);
  return args;
}

/** One progress bar for the whole sweep (a terminal), else a line when the counts change (logs). */
function sweepProgress(mode: ProgressMode, total: number) {
  const tty = mode === 'bar' || (mode === 'auto' && process.stderr.isTTY);
  const bar = tty ? new cliProgress.SingleBar({ stream: process.stderr, format: 'sweep {bar} {value}/{total} runs | done {done}, running {running}, failed {failed}, queued {queued} | {detail}', hideCursor: true, fps: 4 }, cliProgress.Presets.shades_classic) : undefined;
  bar?.start(total, 0, { done: '0', running: '0', failed: '0', queued: String(total), detail: '' });
  let last = '';
  let lastAt = 0;
  return {
    update(c: { done: number; running: number; failed: number; queued: number }, detail: string) {
      if (bar) return bar.update(c.done + c.failed, { ...Object.fromEntries(Object.entries(c).map(([k, v]) => [k, String(v)])), detail });
      const line = `sweep: done ${c.done}/${total}, running ${c.running}, failed ${c.failed}, queued ${c.queued}`;
      if (mode === 'none' || (line === last && Date.now() - lastAt < 10000)) return;
      last = line;
      lastAt = Date.now();
      process.stderr.write(`${line}${detail ? ` | ${detail}` : ''}\n`);
    },
    stop: () => bar?.stop(),
  };
}

const runDir = (plan: SweepPlan, run: SweepRun) => path.join(plan.out, 'runs', run.name);

/** Local pool: `cellstack train` children, as many at a time as cores; a rerun continues what is unfinished. */
async function runLocal(plan: SweepPlan, jobs: number, mode: ProgressMode): Promise<Map<string, string>> {
  const errors = new Map<string, string>();
  await fs.mkdir(path.join(plan.out, 'specs'), { recursive: true });
  const todo: SweepRun[] = [];
  for (const run of plan.runs) {
    const dir = runDir(plan, run);
    const record = existsSync(path.join(dir, 'run.json')) ? await new RunFolder(dir).readJson<RunRecord>('run.json') : undefined;
    if (record?.status !== 'completed') todo.push(run);
  }
  const counts = { done: plan.runs.length - todo.length, running: 0, failed: 0, queued: todo.length };
  const progress = sweepProgress(mode, plan.runs.length);
  const steps = new Map<string, string>();
  const show = () => progress.update(counts, [...steps.entries()].slice(0, 4).map(([n, s]) => `${n} ${s}`).join(', '));
  let stopped = false;
  const onSignal = () => (stopped = true); // children get the same Ctrl-C and save a checkpoint
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let next = 0;
  const lane = async () => {
    while (next < todo.length && !stopped) {
      const run = todo[next++];
      const dir = runDir(plan, run);
      const specFile = path.join(plan.out, 'specs', `${run.name}.rnn`);
      await writeFileAtomic(specFile, run.source);
      // A run folder left by an earlier, interrupted sweep resumes from its checkpoint.
      const args = existsSync(path.join(dir, 'run.json')) ? ['--resume', dir, '--backend', run.flags.backend, '--val-size', String(run.flags.valSize)] : [specFile, '--out', dir, ...trainArgs(run.flags)];
      counts.queued--;
      counts.running++;
      const child: { args: string[]; code?: number; error?: string } = { args: [...args, '--progress', 'jsonl'] };
      await runChild(child, (t) => {
        steps.set(run.name, `${t.step}/${t.total}`);
        show();
      });
      steps.delete(run.name);
      counts.running--;
      if (child.code === 0 || child.code === EXIT.diverged) counts.done++;
      else if (child.code === EXIT.interrupted) counts.queued++;
      else {
        counts.failed++;
        errors.set(run.name, `exit ${child.code}: ${child.error ?? ''}`);
      }
      show();
    }
  };
  show();
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, todo.length)) }, lane));
  progress.stop();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  if (stopped) throw new CliError('sweep interrupted; the running runs saved a checkpoint', EXIT.interrupted, [`  continue with the same command (same --out ${plan.out})`]);
  return errors;
}

/** Follow a queued sweep until every run is done or failed; collect each finished run once into <out>/runs. */
async function follow(plan: SweepPlan, url: string, mode: ProgressMode): Promise<Map<string, string>> {
  const queue = openQueue(url);
  const progress = sweepProgress(mode, plan.runs.length);
  const errors = new Map<string, string>();
  let failingSince = 0;
  try {
    for (;;) {
      let states: Map<string, RunState>;
      try {
        states = await pollRuns(queue, plan);
        failingSince = 0;
      } catch (e) {
        failingSince ||= Date.now();
        if (Date.now() - failingSince > 15000) {
          throw new CliError(`lost Redis at ${shownUrl(url)}: ${redisReason(e)}`, EXIT.input, [`  the runs go on on the workers; follow them again with: cellstack sweep --attach ${plan.id} --queue ${url}`]);
        }
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      const counts = { done: 0, running: 0, failed: 0, queued: 0 };
      const detail: string[] = [];
      for (const run of plan.runs) {
        const s = states.get(run.name)!;
        counts[s.state]++;
        if (s.state === 'done') await collect(plan, run, s);
        if (s.state === 'failed') errors.set(run.name, s.error ?? 'failed');
        if (s.state === 'running' && s.progress && detail.length < 4) detail.push(`${run.name} ${s.progress.step}/${s.progress.total}`);
      }
      progress.update(counts, detail.join(', '));
      if (counts.done + counts.failed === plan.runs.length) break;
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    progress.stop();
    await queue.close().catch(() => {});
  }
  return errors;
}

/** A finished run's record and metrics into <out>/runs/<name> (once: a collected run is not written again). */
async function collect(plan: SweepPlan, run: SweepRun, s: RunState) {
  const folder = new RunFolder(runDir(plan, run));
  if (existsSync(folder.file('run.json')) || !s.result) return;
  await fs.mkdir(folder.dir, { recursive: true });
  await writeFileAtomic(folder.file('metrics.jsonl'), s.result.metrics);
  await folder.writeJson('worker.json', { worker: s.result.worker, folder: s.result.folder });
  await folder.writeJson('run.json', s.result.record); // last: its presence marks the run collected
}

/** `cellstack sweep`: specs × grid × seeds, on a local pool or across machines through Redis. */
export async function sweep(args: string[], flags: SweepFlags): Promise<number> {
  const t0 = Date.now();
  let plan: SweepPlan;
  if (flags.attach) {
    if (!flags.queue) throw usage('--attach needs --queue redis://… (the server the sweep was queued on)');
    if (args.length || flags.grid?.length) throw usage('--attach takes no specs or --grid: the sweep is already planned');
    const client = await connect(flags.queue);
    plan = await loadPlan(client, flags.attach, flags.queue).finally(() => client.disconnect());
    if (flags.out) plan.out = path.resolve(flags.out);
  } else {
    if (flags.queue) (await connect(flags.queue)).disconnect(); // a wrong URL or a dead server fails before planning
    plan = await makePlan(args, flags);
  }
  await fs.mkdir(plan.out, { recursive: true });
  await new RunFolder(plan.out).writeJson('sweep-plan.json', plan);
  const where = flags.queue ? `queue ${shownUrl(flags.queue)}` : `${Math.min(flags.jobs ?? availableParallelism(), plan.runs.length)} local processes at a time`;
  process.stderr.write(`sweep ${plan.id}: ${plan.runs.length} runs (${plan.specs.length} spec(s) × ${plan.axes.map((a) => `${a.key} ×${Array.isArray(a.values) ? a.values.length : Object.values(a.values)[0].length}`).join(' × ') || 'no grid'} × ${plan.seeds} seed(s)) on ${plan.taskText}; ${where} → ${plan.out}\n`);
  let errors: Map<string, string>;
  if (flags.queue) {
    if (!flags.attach) {
      const client = await connect(flags.queue);
      const queue = openQueue(flags.queue);
      await enqueue(client, queue, plan).finally(async () => {
        client.disconnect();
        await queue.close().catch(() => {});
      });
      process.stderr.write(`queued; start workers with: cellstack worker --queue ${shownUrl(flags.queue)}; follow again after a restart with: cellstack sweep --attach ${plan.id} --queue ${shownUrl(flags.queue)}\n`);
    }
    errors = await follow(plan, flags.queue, flags.progress);
  } else {
    errors = await runLocal(plan, flags.jobs ?? availableParallelism(), flags.progress);
  }

  const results: RunResult[] = [];
  for (const run of plan.runs) {
    const dir = runDir(plan, run);
    if (existsSync(path.join(dir, 'run.json'))) {
      const worker = existsSync(path.join(dir, 'worker.json')) ? await new RunFolder(dir).readJson<{ worker: string; folder: string }>('worker.json') : undefined;
      results.push(await readResult(plan, run, dir, worker ? `${worker.worker.split(':')[0]}:${worker.folder}` : dir));
    } else results.push({ name: run.name, spec: run.spec, values: run.values, seed: run.seed, status: 'failed', error: errors.get(run.name) ?? 'no result' });
  }
  const { md, files } = await writeResults(plan, results, (Date.now() - t0) / 1000);
  process.stdout.write(`\n${plan.taskText}: ${plan.runs.length} runs, wall time ${duration((Date.now() - t0) / 1000)}\n\n${md}\n\nwrote ${files.join(', ')}\n`);
  const failed = results.filter((r) => r.status === 'failed');
  if (failed.length) throw new CliError(`${failed.length} of ${plan.runs.length} runs failed`, EXIT.input, failed.map((r) => `  ${r.name}: ${r.error ?? ''}`));
  return EXIT.ok;
}
