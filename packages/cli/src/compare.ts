import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import type { BackendChoice } from '@cellstack/core';
import cliProgress from 'cli-progress';
import { median, smooth, smoothingWindow, writeCompareChart } from './charts.js';
import { CliError, EXIT, usage } from './errors.js';
import { duration, tickLine, type ProgressMode, type Tick } from './progress.js';
import { defaultRunDir, RunFolder } from './run-folder.js';
import { cliRuntime } from './runtime.js';
import { compileSpec } from './spec.js';
import { parseTaskFlag, showTask, type TaskRef } from './task-ref.js';
import { DEFAULTS, train, type RunRecord, type TrainFlags } from './train.js';

export interface CompareFlags {
  task?: string;
  seeds: number;
  steps?: number;
  batch?: number;
  lr?: number;
  clip?: number;
  backend: BackendChoice;
  out?: string;
  jobs?: number;
  threshold?: number;
  valSize: number;
  progress: ProgressMode;
  allow?: string[];
}

interface Run {
  spec: string;
  name: string;
  seed: number;
  dir: string;
  args: string[];
  flags: TrainFlags;
  code?: number;
  error?: string;
}

export interface CompareRow {
  spec: string;
  params: number;
  finalLoss: { median: number; min: number; max: number };
  validationLoss: number;
  validationMetrics: Record<string, number>;
  stepsToThreshold: { median: number | null; reached: number; seeds: number };
  stepsPerSecond: number;
}

/** Short distinct names for the specs: file names, or relative paths when two share a name. */
function names(specs: string[]): string[] {
  const base = specs.map((s) => path.basename(s).replace(/\.rnn$/, ''));
  return base.map((b, i) => (base.filter((x) => x === b).length > 1 ? path.relative(process.cwd(), specs[i]).replace(/\.rnn$/, '') : b));
}

const fmt = (v: number) => (Math.abs(v) >= 0.01 || v === 0 ? v.toFixed(4) : v.toExponential(2));

/** Run one `cellstack train` child; progress arrives as JSON lines on its stdout. */
const children = new Set<ReturnType<typeof spawn>>();

export function runChild(run: Pick<Run, 'args' | 'code' | 'error'>, onTick: (t: Tick) => void): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1], 'train', ...run.args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stderr = '';
    let buffer = '';
    child.stdout.on('data', (d: Buffer) => {
      buffer += d.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop()!;
      for (const p of parts) {
        if (!p.startsWith('{"progress"')) continue;
        try {
          onTick((JSON.parse(p) as { progress: Tick }).progress);
        } catch {
          // not a progress line
        }
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.on('close', (code, signal) => {
      children.delete(child);
      run.code = code ?? (signal === 'SIGINT' ? EXIT.interrupted : 1);
      if (run.code !== 0) run.error = stderr.trim().split('\n').filter((l) => !/^(backend|task|model|run folder):/.test(l)).slice(-3).join(' | ');
      resolve();
    });
  });
}

/** Run one training in this process (--jobs 1: no process start-up per run). */
async function runHere(run: Run, onTick: (t: Tick) => void): Promise<void> {
  try {
    run.code = await train(run.spec, { ...run.flags, onTick });
  } catch (e) {
    run.code = e instanceof CliError ? e.code : EXIT.internal;
    run.error = (e as Error).message;
  }
}

/** `cellstack compare`: every spec × seed on the same task and data; one chart and one table. */
/**
 * The line a reader should take away: each spec's median final loss as a share of the
 * memoryless baseline, best first (below 100 % = the cell carried information across
 * the sequence; at ~100 % it learned only the symbol frequencies).
 */
export function lookAt(rows: Array<Pick<CompareRow, 'spec' | 'finalLoss'>>, baseline: number): string {
  const share = (r: Pick<CompareRow, 'finalLoss'>) => r.finalLoss.median / baseline;
  const parts = [...rows].sort((a, b) => share(a) - share(b)).map((r) => `${r.spec} ${(100 * share(r)).toFixed(0)} %`);
  return (
    `What to look at: the final loss as a share of the memoryless baseline ${fmt(baseline)} (a model that remembers nothing): ${parts.join(', ')}. ` +
    'Below 100 % the cell carried the symbols across the lag; at 100 % it learned only their frequencies. The chart (log scale) shows when each curve left the baseline.'
  );
}

export async function compare(specs: string[], flags: CompareFlags): Promise<number> {
  if (specs.length < 1) throw usage('compare needs at least one spec file');
  if (!(flags.seeds >= 1)) throw usage(`--seeds must be a whole number >= 1 (got ${flags.seeds})`);
  // Check every spec against the task before any training starts (cpu: nothing is trained here).
  const { runtime } = await cliRuntime('cpu');
  let taskRef: TaskRef | undefined = flags.task ? parseTaskFlag(flags.task) : undefined;
  let steps = flags.steps;
  let batch = flags.batch;
  let baseline = 0;
  let taskText = '';
  for (const spec of specs) {
    const c = await compileSpec(spec, { runtime, task: taskRef, requireTask: true, allow: flags.allow });
    c.model?.dispose();
    taskRef ??= c.taskRef;
    steps ??= c.training.steps;
    batch ??= c.training.batch;
    baseline = c.task!.baseline;
    taskText = `${showTask({ name: c.task!.name, options: c.task!.options })}`;
  }
  steps ??= DEFAULTS.steps;
  batch ??= DEFAULTS.batch;
  const out = flags.out ?? defaultRunDir('compare');
  // A comparison's outputs are never replaced: its runs would refuse their folders and leave an empty table.
  if (existsSync(out) && (!statSync(out).isDirectory() || readdirSync(out).length)) {
    throw usage(`'${out}' is not empty${existsSync(path.join(out, 'compare.json')) ? ' (it holds a comparison)' : ''}; choose a new --out`);
  }
  const labels = names(specs);
  const runs: Run[] = [];
  specs.forEach((spec, i) => {
    for (let seed = 1; seed <= flags.seeds; seed++) {
      const dir = path.join(out, 'runs', `${labels[i].replace(/[\\/]/g, '_')}-seed${seed}`);
      const args = [spec, '--out', dir, '--task', showTask(taskRef!), '--steps', String(steps), '--batch', String(batch), '--seed', String(seed), '--backend', flags.backend, '--val-size', String(flags.valSize), '--progress', 'jsonl'];
      if (flags.lr !== undefined) args.push('--lr', String(flags.lr));
      if (flags.clip !== undefined) args.push('--clip', String(flags.clip));
      for (const a of flags.allow ?? []) args.push('--allow', a);
      const trainFlags: TrainFlags = { out: dir, task: showTask(taskRef!), steps, batch, seed, backend: flags.backend, valSize: flags.valSize, progress: 'none', lr: flags.lr, clip: flags.clip, allow: flags.allow, quiet: true };
      runs.push({ spec, name: labels[i], seed, dir, args, flags: trainFlags });
    }
  });
  const jobs = Math.max(1, Math.min(flags.jobs ?? availableParallelism(), runs.length));
  process.stderr.write(`compare: ${specs.length} spec(s) × ${flags.seeds} seed(s) on ${taskText}, ${steps} steps of batch ${batch}, ${jobs === 1 ? 'one at a time in this process' : `${jobs} processes at a time`} → ${out}\n`);

  const tty = flags.progress === 'bar' || (flags.progress === 'auto' && process.stderr.isTTY);
  const multi = tty ? new cliProgress.MultiBar({ stream: process.stderr, format: '{name} {bar} {value}/{total} | loss {loss} | {rate} steps/s', hideCursor: true, fps: 5 }, cliProgress.Presets.shades_classic) : undefined;
  const t0 = Date.now();
  let next = 0;
  // Ctrl-C: every running child saves a checkpoint; no new run starts.
  let stopped = false;
  const forward = (sig: NodeJS.Signals) => {
    stopped = true;
    for (const c of children) c.kill(sig);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  const worker = async () => {
    while (next < runs.length && !stopped) {
      const run = runs[next++];
      const label = `${run.name} seed ${run.seed}`.padEnd(Math.max(...labels.map((l) => l.length)) + 7);
      const bar = multi?.create(steps!, 0, { name: label, loss: '-', rate: '-' });
      let lastLine = 0;
      await (jobs === 1 ? runHere : runChild)(run, (t) => {
        if (bar) bar.update(t.step, { loss: fmt(t.loss), rate: t.stepsPerSecond.toFixed(2) });
        else if (flags.progress !== 'none' && Date.now() - lastLine > 10000) {
          lastLine = Date.now();
          process.stderr.write(`${label} ${tickLine(t)}\n`);
        }
      });
      if (!bar && flags.progress !== 'none') process.stderr.write(`${label} ${run.code === 0 ? 'done' : `failed (exit ${run.code})`} after ${duration((Date.now() - t0) / 1000)}\n`);
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
  multi?.stop();
  process.off('SIGINT', forward);
  process.off('SIGTERM', forward);

  const interrupted = runs.filter((r) => r.code === EXIT.interrupted);
  if (stopped || interrupted.length) {
    throw new CliError(`compare interrupted; ${interrupted.length} run(s) saved a checkpoint`, EXIT.interrupted, interrupted.map((r) => `  cellstack train --resume ${r.dir}`));
  }
  const threshold = flags.threshold ?? baseline / 2;
  const rows: CompareRow[] = [];
  const curves: Array<{ name: string; seeds: number[][] }> = [];
  for (const [i, spec] of specs.entries()) {
    const ok = runs.filter((r) => r.spec === spec && r.code === 0);
    if (!ok.length) continue;
    const records = await Promise.all(ok.map((r) => new RunFolder(r.dir).readJson<RunRecord>('run.json')));
    const losses = await Promise.all(ok.map(async (r) => (await new RunFolder(r.dir).readMetrics()).map((l) => l.loss)));
    const finals = records.map((r) => r.finalLoss!).sort((a, b) => a - b);
    const reach = losses.map((l) => {
      const s = smooth(l, smoothingWindow(l.length));
      const k = s.findIndex((v) => v < threshold);
      return k < 0 ? null : k + 1;
    });
    const reached = reach.filter((x): x is number => x !== null);
    const metricNames = Object.keys(records[0].validation?.metrics ?? {});
    rows.push({
      spec: labels[i],
      params: records[0].params,
      finalLoss: { median: median(finals), min: finals[0], max: finals[finals.length - 1] },
      validationLoss: median(records.map((r) => r.validation!.loss)),
      validationMetrics: Object.fromEntries(metricNames.map((m) => [m, median(records.map((r) => r.validation!.metrics[m]))])),
      stepsToThreshold: { median: reached.length === ok.length ? median(reached) : null, reached: reached.length, seeds: ok.length },
      stepsPerSecond: median(records.map((r) => r.stepsPerSecond ?? 0)),
    });
    curves.push({ name: labels[i], seeds: losses });
  }
  const folder = new RunFolder(out);
  const metricNames = Object.keys(rows[0]?.validationMetrics ?? {});
  const header = ['spec', 'params', 'final loss (median [min, max])', 'val loss', ...metricNames.map((m) => `val ${m}`), `steps to < ${fmt(threshold)}`, 'steps/s'];
  const table = [
    header,
    ...rows.map((r) => [
      r.spec,
      String(r.params),
      `${fmt(r.finalLoss.median)} [${fmt(r.finalLoss.min)}, ${fmt(r.finalLoss.max)}]`,
      fmt(r.validationLoss),
      ...metricNames.map((m) => fmt(r.validationMetrics[m])),
      r.stepsToThreshold.median !== null ? String(r.stepsToThreshold.median) : `not reached (${r.stepsToThreshold.reached}/${r.stepsToThreshold.seeds})`,
      r.stepsPerSecond.toFixed(2),
    ]),
  ];
  const widths = header.map((_, c) => Math.max(...table.map((row) => row[c].length)));
  const text = table.map((row) => row.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd()).join('\n');
  const markdown = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...table.slice(1).map((row) => `| ${row.join(' | ')} |`)].join('\n');
  const failed = runs.filter((r) => r.code !== 0);
  await folder.writeJson('compare.json', { task: { ...taskRef, baseline }, steps, batch, seeds: flags.seeds, threshold, rows, failed: failed.map((r) => ({ spec: r.spec, seed: r.seed, code: r.code, error: r.error })) });
  const { writeFileAtomic } = await import('@cellstack/core');
  await writeFileAtomic(folder.file('compare.md'), `# ${taskText}, ${steps} steps, ${flags.seeds} seed(s)\n\nMemoryless baseline ${fmt(baseline)}.\n\n${markdown}\n`);
  const chart = curves.length ? await writeCompareChart(folder.file('compare'), curves, baseline, `${taskText}: ${flags.seeds} seed(s) per spec`) : undefined;
  process.stdout.write(`\n${taskText}: ${steps} steps, batch ${batch}, ${flags.seeds} seed(s); memoryless baseline ${fmt(baseline)}; wall time ${duration((Date.now() - t0) / 1000)}\n\n${text}\n\n${rows.length ? `${lookAt(rows, baseline)}\n\n` : ''}`);
  if (chart) process.stdout.write(`chart: ${chart.svg} (and .png)\ntable: ${folder.file('compare.md')}\n`);
  if (failed.length) {
    throw new CliError(`${failed.length} of ${runs.length} runs failed`, EXIT.input, failed.map((r) => `  ${r.name} seed ${r.seed} (exit ${r.code}): ${r.error ?? ''}`));
  }
  return EXIT.ok;
}
