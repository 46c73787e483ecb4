import { existsSync, promises as fs } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import * as path from 'node:path';
import type { BackendChoice } from '@cellstack/core';
import { writeFileAtomic } from '@cellstack/core';
import { WaitingError, Worker, type Job } from 'bullmq';
import { CliError, EXIT } from './errors.js';
import { RunFolder } from './run-folder.js';
import { connect, QUEUE_NAME, redisOptions, redisReason, shownUrl, type JobData, type JobProgress, type JobResult } from './sweep-queue.js';
import { train, type RunRecord, type TrainFlags } from './train.js';

export interface WorkerFlags {
  queue: string;
  /** Folder for run folders; shared between machines, a killed worker's run resumes from its checkpoint. */
  store?: string;
  /** Seconds without a lock renewal before a run counts as stalled and another worker takes it. */
  lockTimeout: number;
  backend: BackendChoice;
  /** Exit after this many runs (tests, batch schedulers); default: run until Ctrl-C. */
  maxRuns?: number;
  allow?: string[];
}

/**
 * Train one run in this process: a fresh run folder, or `--resume` of the one a stalled
 * worker left (from its last checkpoint), or, when that run had already finished, just its result.
 */
async function runJob(job: Job<JobData, JobResult>, root: string, flags: WorkerFlags, me: string, log: (l: string) => void): Promise<JobResult | 'interrupted'> {
  const { sweep, run } = job.data;
  const dir = path.join(root, sweep, run.name);
  const specFile = path.join(root, sweep, `${run.name}.rnn`);
  await fs.mkdir(path.dirname(dir), { recursive: true });
  if (!existsSync(specFile)) await writeFileAtomic(specFile, run.source);
  const folder = new RunFolder(dir);
  let previous = existsSync(folder.file('run.json')) ? await folder.readJson<RunRecord>('run.json') : undefined;
  const at = previous && folder.hasCheckpoint() ? (await folder.readJson<{ step: number }>('checkpoint.json')).step : 0;
  const finished = previous?.status === 'completed' || previous?.status === 'diverged';
  // Killed before run.json, or after the last step's checkpoint but before run.json said so: train it again from the start.
  if (previous && !finished && at >= previous.settings.steps) previous = undefined;
  if (!previous) await fs.rm(dir, { recursive: true, force: true });
  let last = 0;
  const onTick: TrainFlags['onTick'] = (t) => {
    if (Date.now() - last < 1000 && t.step !== t.total) return;
    last = Date.now();
    job.updateProgress({ step: t.step, total: t.total, loss: t.loss, worker: me } satisfies JobProgress as never).catch(() => {});
  };
  const common = { backend: flags.backend === 'auto' ? run.flags.backend : flags.backend, valSize: run.flags.valSize, progress: 'none' as const, quiet: true, onTick, allow: [...(run.flags.allow ?? []), ...(flags.allow ?? [])] };
  if (!previous || !finished) {
    if (previous) log(`${job.id}: ${at ? `resuming ${dir} from its checkpoint at step ${at}` : `restarting ${dir} (no checkpoint yet)`} (attempt ${job.attemptsStarted})`);
    try {
      const code = previous ? await train(undefined, { ...common, resume: dir }) : await train(specFile, { ...run.flags, ...common, out: dir });
      if (code === EXIT.interrupted) return 'interrupted';
    } catch (e) {
      // A diverged run is a result, not a failure to retry: its record says so.
      if (!(e instanceof CliError && e.code === EXIT.diverged)) throw e;
    }
  }
  const record = await folder.readJson<RunRecord>('run.json');
  const metrics = await fs.readFile(folder.file('metrics.jsonl'), 'utf8');
  return { record, metrics, folder: path.resolve(dir), worker: me };
}

/** `cellstack worker --queue redis://…`: pull runs from the queue and train them, one at a time, until stopped. */
export async function worker(flags: WorkerFlags): Promise<number> {
  redisOptions(flags.queue); // a malformed URL is a usage error before anything starts
  const ping = await connect(flags.queue);
  ping.disconnect();
  const root = path.resolve(flags.store ?? path.join(tmpdir(), 'cellstack-worker'));
  const me = `${hostname()}:${process.pid}`;
  const log = (l: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} worker ${me}: ${l}\n`);
  let done = 0;
  let busy = false;
  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  const w = new Worker<JobData, JobResult>(
    QUEUE_NAME,
    async (job, token) => {
      log(`${job.id}: start (attempt ${job.attemptsStarted})`);
      busy = true;
      const result = await runJob(job, root, flags, me, log).finally(() => (busy = false));
      if (result === 'interrupted') {
        // Ctrl-C saved a checkpoint: hand the run back at once for another worker to resume.
        await job.moveToWait(token);
        log(`${job.id}: interrupted; saved a checkpoint and put the run back on the queue`);
        setImmediate(() => finish(EXIT.interrupted));
        throw new WaitingError();
      }
      log(`${job.id}: ${result.record.status} at step ${result.record.steps}, final loss ${result.record.finalLoss?.toFixed(4) ?? '-'}`);
      if (flags.maxRuns !== undefined && ++done >= flags.maxRuns) setImmediate(() => finish(EXIT.ok));
      return result;
    },
    {
      connection: { ...redisOptions(flags.queue), maxRetriesPerRequest: null },
      concurrency: 1, // tfjs trains on one core per process: start one worker per core
      lockDuration: flags.lockTimeout * 1000,
      stalledInterval: flags.lockTimeout * 1000,
      maxStalledCount: 10,
    },
  );
  let lastError = '';
  w.on('error', (e) => {
    const line = redisReason(e);
    if (line !== lastError) log(`redis: ${line} (retrying)`);
    lastError = line;
  });
  w.on('failed', (job, e) => job && log(`${job.id}: failed: ${e.message.split('\n')[0]}`));
  // Idle: stop now. Training: the run saves a checkpoint (its own SIGINT handler) and is handed back above.
  const stop = () => busy || finish(EXIT.interrupted);
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  log(`pulling runs from ${shownUrl(flags.queue)} (queue ${QUEUE_NAME}); run folders in ${root}`);
  const code = await finished;
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  await w.close(code !== EXIT.ok);
  return code;
}
