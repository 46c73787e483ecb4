/**
 * Fault injection for `cellstack train`: kill training (SIGKILL) at random moments, half of the
 * time inside a checkpoint write, resume until the run completes, and check it against one
 * uninterrupted run. Reports resumes that worked, metrics lines lost or duplicated, corrupt
 * checkpoints and runs that are not bit-identical (final weights and every logged number).
 *
 *   npx tsx --conditions=@cellstack/source tools/fault/inject.ts [--trials 20] [--steps 24] [--seed 1] [--out fault.json]
 *
 * Run on demand (minutes: every trial starts several processes); the CLI README quotes its result.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRng } from '@cellstack/core';

const USAGE = 'usage: npx tsx --conditions=@cellstack/source tools/fault/inject.ts [--trials 20] [--steps 24] [--seed 1] [--out fault.json]';
const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) {
  const [k, v] = [process.argv[i], process.argv[i + 1]];
  if (!/^--(trials|steps|seed|out)$/.test(k) || v === undefined) {
    process.stderr.write(`${USAGE}\n`);
    process.exit(2);
  }
  args.set(k.slice(2), v);
}
const trials = Number(args.get('trials') ?? 20);
const steps = Number(args.get('steps') ?? 24);
const rng = createRng(Number(args.get('seed') ?? 1));

const CLI = fileURLToPath(new URL('../../packages/cli/src/cli.ts', import.meta.url));
const tsx = createRequire(import.meta.url).resolve('tsx');
// A cell with a random stream (dropout) and Adam: the parts of a run that resume must restore exactly.
const SPEC = `input [null, 10]
RRU(6, dropout: 0.5) -> dense(9, activation: softmax)
train {
  task: copy(lag: 2, symbols: 2)
  batch: 4
  seed: 7
}
`;
const common = ['--checkpoint-every', '3', '--val-size', '4', '--progress', 'none'];

interface Exit {
  code: number | null;
  stderr: string;
}

/** One CLI process; `kill(child)` decides when to SIGKILL it (never: undefined). */
function cellstack(argv: string[], killer?: (kill: () => void, dir: string) => void, dir = ''): Promise<Exit> {
  const child = spawn(process.execPath, ['--conditions=@cellstack/source', '--import', tsx, CLI, ...argv], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, CELLSTACK_BACKEND: 'wasm' } });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  killer?.(() => child.kill('SIGKILL'), dir);
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
}

/** Kill at a random moment of training: a random delay (up to `ms`) once run.json exists. */
const atRandom = (ms: number) => (kill: () => void, dir: string) => {
  const delay = rng.uniform(0, ms);
  const poll = setInterval(() => {
    if (!existsSync(path.join(dir, 'run.json'))) return;
    clearInterval(poll);
    setTimeout(kill, delay).unref();
  }, 5);
  poll.unref();
};

/** Kill at the n-th file event inside checkpoints/ (a checkpoint being written). */
const inCheckpoint = (n: number) => (kill: () => void, dir: string) => {
  let seen = 0;
  const poll = setInterval(() => {
    if (!existsSync(path.join(dir, 'checkpoints'))) return;
    clearInterval(poll);
    const w = watch(path.join(dir, 'checkpoints'), { recursive: true }, () => {
      if (++seen === n) {
        kill();
        w.close();
      }
    });
    setTimeout(() => w.close(), 120_000).unref();
  }, 5);
  poll.unref();
};

const lines = (dir: string) => readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, number>);
const weights = (dir: string) => readdirSync(path.join(dir, 'model')).find((f) => f.startsWith('weights-'));
const untimed = (ls: Record<string, number>[]) => JSON.stringify(ls.map(({ time: _, ...l }) => l));

const root = mkdtempSync(path.join(tmpdir(), 'cellstack-fault-'));
const specFile = path.join(root, 'rru.rnn');
writeFileSync(specFile, SPEC);
const reference = path.join(root, 'reference');
const t0 = Date.now();
const ref = await cellstack(['train', specFile, '--out', reference, '--steps', String(steps), ...common]);
if (ref.code !== 0) throw new Error(`the uninterrupted run failed: ${ref.stderr}`);
// Training time of the uninterrupted run (without start-up): the span random kills fall in.
const refSeconds = (JSON.parse(readFileSync(path.join(reference, 'run.json'), 'utf8')) as { seconds: number }).seconds;

const totals = { trials, kills: 0, killsInCheckpoint: 0, resumes: 0, resumesWorked: 0, resumesKilled: 0, resumesFailed: 0, linesLost: 0, linesDuplicated: 0, corruptCheckpoints: 0, notBitIdentical: 0, unfinished: 0 };
const failures: string[] = [];
for (let trial = 1; trial <= trials; trial++) {
  const dir = path.join(root, `trial-${trial}`);
  const inside = trial % 2 === 0;
  const killer = inside ? inCheckpoint(1 + rng.int(12)) : atRandom(refSeconds * 900);
  let exit = await cellstack(['train', specFile, '--out', dir, '--steps', String(steps), ...common], killer, dir);
  let killed = exit.code === null;
  if (killed) [totals.kills, totals.killsInCheckpoint] = [totals.kills + 1, totals.killsInCheckpoint + (inside ? 1 : 0)];
  // Resume until done; the first resume is itself killed at a random moment in a third of the trials.
  for (let attempt = 0; killed && attempt < 5; attempt++) {
    if (!existsSync(path.join(dir, 'run.json'))) {
      // Killed before the run existed: start it again.
      rmSync(dir, { recursive: true, force: true });
      exit = await cellstack(['train', specFile, '--out', dir, '--steps', String(steps), ...common]);
    } else {
      totals.resumes++;
      exit = await cellstack(['train', '--resume', dir, ...common], attempt === 0 && trial % 3 === 0 ? atRandom(refSeconds * 500) : undefined, dir);
      if (exit.code === 0) totals.resumesWorked++;
      else if (exit.code === null) [totals.kills, totals.resumesKilled] = [totals.kills + 1, totals.resumesKilled + 1];
      else totals.resumesFailed++;
      if (/damaged|does not match/.test(exit.stderr)) totals.corruptCheckpoints++;
    }
    killed = exit.code === null;
  }
  if (exit.code !== 0) {
    totals.unfinished++;
    failures.push(`trial ${trial}: exit ${exit.code}: ${exit.stderr.trim().split('\n').pop()}`);
    continue;
  }
  const got = lines(dir).map((l) => l.step);
  const want = new Set(got);
  totals.linesDuplicated += got.length - want.size;
  totals.linesLost += steps - [...want].filter((s) => s >= 1 && s <= steps).length;
  if (weights(dir) !== weights(reference) || untimed(lines(dir)) !== untimed(lines(reference))) {
    totals.notBitIdentical++;
    failures.push(`trial ${trial}: not bit-identical to the uninterrupted run`);
  }
}
const result = { steps, seconds: Number(((Date.now() - t0) / 1000).toFixed(1)), ...totals, failures };
if (args.get('out')) writeFileSync(args.get('out')!, `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
rmSync(root, { recursive: true, force: true });
process.exit(failures.length ? 1 : 0);
