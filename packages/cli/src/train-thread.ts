import { existsSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { CliError, EXIT, reportError } from './errors.js';
import { createProgress, type Tick } from './progress.js';
import { RunFolder } from './run-folder.js';
import { signalCode, type RunRecord, type TrainFlags, type TrainPhase } from './train.js';

/**
 * `cellstack train` runs the training on a worker thread so that signals are honoured during
 * a long step: a step is synchronous (kernels, wasm), and while it runs the thread's event
 * loop cannot call a signal handler. This (main) thread owns SIGINT/SIGTERM and raises a flag
 * on a SharedArrayBuffer that core checks between kernel calls, products and time steps
 * (setInterruptFlag); the step is abandoned and the last completed step saved. A step that
 * has not stopped `stopGrace()` seconds after the signal has its thread terminated.
 */
export interface WorkerData {
  spec: string | undefined;
  flags: Omit<TrainFlags, 'onTick' | 'onPhase' | 'interrupt'>;
  flag: Int32Array;
  argv: string[];
  debug: boolean;
}

export type ToMain = { tick: Tick } | { phase: TrainPhase; dir: string } | { code: number } | { stdout: string } | { stderr: string };

/** Seconds a running step has to notice a signal before its thread is terminated (CELLSTACK_STOP_GRACE, default 10). */
export function stopGrace(env: Record<string, string | undefined> = process.env): number {
  const v = env.CELLSTACK_STOP_GRACE;
  if (v === undefined || v === '') return 10;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new CliError(`CELLSTACK_STOP_GRACE is '${v}': use a number of seconds > 0`, EXIT.usage);
  return n;
}

/** The worker's entry: the compiled .js, or from a source checkout the .ts through tsx (Node 20 does not pass loader hooks to workers). */
function workerCode(): string {
  const source = import.meta.url.endsWith('.ts');
  const entry = JSON.stringify(new URL(`./train-worker.${source ? 'ts' : 'js'}`, import.meta.url).href);
  if (!source) return `import(${entry})`;
  // Resolved here: an eval'd worker resolves bare names from the working directory, not from the CLI.
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  return `import(${tsx}).then((tsx) => { tsx.register(); return import(${entry}); })`;
}

export async function trainCommand(spec: string | undefined, flags: TrainFlags, debug: boolean): Promise<number> {
  const grace = stopGrace();
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const data: WorkerData = { spec, flags, flag, argv: process.argv.slice(2), debug };
  const worker = new Worker(workerCode(), { eval: true, workerData: data });
  const progress = createProgress(flags.progress);
  let phase: TrainPhase | undefined;
  let dir: string | undefined;
  let code: number | undefined;
  let crashed: number | undefined;
  let signal: string | undefined;
  let signalAt = 0;
  let timer: NodeJS.Timeout | undefined;
  let terminated: string | undefined;

  const stopNow = (why: string) => {
    terminated ??= why;
    clearTimeout(timer);
    void worker.terminate();
  };
  const onSignal = (sig: string) => {
    if (signal) {
      // The same Ctrl-C may come twice at once (terminal and a forwarding parent); a later one quits.
      if (Date.now() - signalAt > 1000) stopNow(`${sig}: quit without saving the step in progress`);
      return;
    }
    signal = sig;
    signalAt = Date.now();
    // Before the steps (loading, compiling) there is nothing to save; after them (final model, validation) --resume finishes the run.
    if (phase !== 'training') return stopNow(`${sig}: stopped`);
    progress.stop();
    process.stderr.write(`\n${sig}: stopping (the step in progress is abandoned; again to quit without saving)\n`);
    Atomics.store(flag, 0, signalCode(sig));
    timer = setTimeout(() => stopNow(`${sig}: the step did not stop within ${grace} s; its thread was terminated`), grace * 1000);
  };
  const sigint = () => onSignal('SIGINT');
  const sigterm = () => onSignal('SIGTERM');
  process.on('SIGINT', sigint);
  process.on('SIGTERM', sigterm);

  worker.on('message', (m: ToMain) => {
    if ('stderr' in m) progress.log(m.stderr.replace(/\n$/, ''));
    else if ('stdout' in m) process.stdout.write(m.stdout);
    else if ('tick' in m) progress.update(m.tick);
    else if ('phase' in m) {
      ({ phase, dir } = m);
      if (phase === 'stopping' || phase === 'finishing') {
        clearTimeout(timer); // the step stopped: saving the checkpoint is not cut short
        progress.stop();
      }
    } else code = m.code;
  });
  worker.on('error', (e) => (crashed = reportError(e, debug)));
  await new Promise((resolve) => worker.once('exit', resolve));
  clearTimeout(timer);
  process.off('SIGINT', sigint);
  process.off('SIGTERM', sigterm);
  progress.stop();
  if (terminated !== undefined) return leaveInterrupted(terminated, dir);
  return code ?? crashed ?? EXIT.internal;
}

/**
 * After terminating the worker: release the run folder (its lock is this process's) and mark
 * run.json interrupted when steps had started, so --resume continues from the last checkpoint.
 */
async function leaveInterrupted(why: string, dir: string | undefined): Promise<number> {
  if (!dir) {
    process.stderr.write(`\n${why}\n`);
    return EXIT.interrupted;
  }
  const folder = new RunFolder(dir);
  const lock = folder.file('lock.json');
  try {
    if (JSON.parse(readFileSync(lock, 'utf8')).pid === process.pid) rmSync(lock, { force: true });
  } catch {
    // no lock, or a torn one: nothing of ours to release
  }
  let kept = '';
  if (existsSync(folder.file('run.json'))) {
    const record = await folder.readJson<RunRecord>('run.json');
    if (record.status === 'running') await folder.writeJson('run.json', { ...record, status: 'interrupted', finishedAt: new Date().toISOString() });
    kept = folder.hasCheckpoint() ? `the run keeps its checkpoint at step ${(await folder.readJson<{ step: number }>('checkpoint.json')).step}; ` : 'no checkpoint was saved yet; ';
  }
  process.stderr.write(`\n${why}; ${kept}continue with: cellstack train --resume ${path.normalize(dir)}\n`);
  return EXIT.interrupted;
}
