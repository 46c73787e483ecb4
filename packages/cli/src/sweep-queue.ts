import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { CliError, EXIT, usage } from './errors.js';
import type { SweepPlan } from './sweep-results.js';
import type { SweepRun } from './sweep-grid.js';
import type { RunRecord } from './train.js';

/** The BullMQ queue every sweep's runs go to; workers pull from it. */
export const QUEUE_NAME = 'cellstack-runs';
const planKey = (id: string) => `cellstack:sweep:${id}`;
/** Job ids may not contain ':' (BullMQ); the sweep id and run name never do. */
export const jobId = (sweep: string, run: string) => `${sweep}.${run}`;

/** What a job carries: the run, self-contained, and its sweep. */
export interface JobData {
  sweep: string;
  run: SweepRun;
}

/** What a worker sends back: the run's record and metrics, and where its full folder stays. */
export interface JobResult {
  record: RunRecord;
  metrics: string;
  folder: string;
  worker: string;
}

/** Live progress a worker reports while a run trains. */
export interface JobProgress {
  step: number;
  total: number;
  loss: number;
  worker: string;
}

/** `redis://[user:password@]host[:port][/db]` → ioredis options; anything else is a one-line usage error. */
export function redisOptions(url: string): { host: string; port: number; db: number; username?: string; password?: string; tls?: object } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw usage(`--queue '${url}': expected redis://host:port/db (e.g. redis://127.0.0.1:6379/0)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw usage(`--queue '${url}': expected redis://host:port/db (got the scheme ${u.protocol.replace(/:$/, '')})`);
  const db = u.pathname.replace(/^\//, '');
  if (db && !/^\d+$/.test(db)) throw usage(`--queue '${url}': the database must be a number (got /${db})`);
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    db: db ? Number(db) : 0,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/** The URL without its password, for messages. */
export const shownUrl = (url: string) => url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');

/**
 * Connect and ping once, failing fast: a wrong host, a closed port or a dead server is one line,
 * not ioredis' endless reconnect loop.
 */
export async function connect(url: string): Promise<Redis> {
  const client = new Redis({ ...redisOptions(url), lazyConnect: true, connectTimeout: 5000, maxRetriesPerRequest: 1, retryStrategy: () => null, enableOfflineQueue: false });
  let cause: unknown;
  client.on('error', (e) => (cause ??= e)); // the socket's error; connect() only says "closed"
  try {
    await client.connect();
    await client.ping();
  } catch (e) {
    client.disconnect();
    throw new CliError(`cannot reach Redis at ${shownUrl(url)}: ${redisReason(cause ?? e)} (is the server running? cellstack never starts one)`, EXIT.input);
  }
  return client;
}

export const redisReason = (e: unknown) => {
  const err = e as NodeJS.ErrnoException & { errors?: NodeJS.ErrnoException[] };
  const code = err.code ?? err.errors?.[0]?.code;
  return code === 'ECONNREFUSED' ? 'connection refused' : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'unknown host' : (err.message || String(e)).split('\n')[0];
};

/** A BullMQ queue on the URL (its own connection; errors surface through our polls, once). */
export function openQueue(url: string) {
  const queue = new Queue<JobData, JobResult>(QUEUE_NAME, { connection: { ...redisOptions(url), maxRetriesPerRequest: 1, enableOfflineQueue: false } });
  queue.on('error', () => {});
  return queue;
}

type RunQueue = ReturnType<typeof openQueue>;

/** Store the plan and enqueue its runs; a run already queued (same sweep and name) is not added twice. */
export async function enqueue(client: Redis, queue: RunQueue, plan: SweepPlan) {
  await client.set(planKey(plan.id), JSON.stringify(plan));
  await queue.addBulk(plan.runs.map((run) => ({ name: run.name, data: { sweep: plan.id, run }, opts: { jobId: jobId(plan.id, run.name), attempts: 1, removeOnComplete: false, removeOnFail: false } })));
}

/** The plan of a sweep started earlier (`--attach <id>`). */
export async function loadPlan(client: Redis, id: string, url: string): Promise<SweepPlan> {
  const text = await client.get(planKey(id));
  if (!text) throw usage(`--attach ${id}: no sweep with that id on ${shownUrl(url)}`);
  return JSON.parse(text) as SweepPlan;
}

/** One poll's view of a run. */
export interface RunState {
  state: 'queued' | 'running' | 'done' | 'failed';
  progress?: JobProgress;
  result?: JobResult;
  error?: string;
}

/** The state of every run of a sweep, by run name. */
export async function pollRuns(queue: RunQueue, plan: SweepPlan): Promise<Map<string, RunState>> {
  const states = new Map<string, RunState>();
  const jobs = await Promise.all(plan.runs.map((r) => queue.getJob(jobId(plan.id, r.name))));
  await Promise.all(
    plan.runs.map(async (r, i) => {
      const job = jobs[i];
      if (!job) return states.set(r.name, { state: 'failed', error: 'its job is gone from the queue (removed by hand?)' });
      const s = await job.getState();
      const progress = typeof job.progress === 'object' ? (job.progress as unknown as JobProgress) : undefined;
      if (s === 'completed') return states.set(r.name, { state: 'done', result: job.returnvalue as JobResult, progress });
      if (s === 'failed') return states.set(r.name, { state: 'failed', error: job.failedReason, progress });
      return states.set(r.name, { state: s === 'active' ? 'running' : 'queued', progress });
    }),
  );
  return states;
}
