import { spawn } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LayersModel } from '@tensorflow/tfjs-layers';
import { main } from '@cellstack/cli';
import { cli, readLines, spec, start, tmp, TINY, waitFor } from './helpers.js';

/** The CLI in this process; stderr captured. */
async function run(args: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  vi.spyOn(process.stderr, 'write').mockImplementation((d) => ((err += String(d)), true));
  try {
    return { code: await main(args), err };
  } finally {
    vi.restoreAllMocks();
  }
}

const quick = ['--val-size', '4', '--progress', 'none'];
const runJson = (dir: string) => JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
const ckptDir = (dir: string) => join(dir, JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8')).dir);
const NRU = TINY.replace('LSTM(4)', 'NRU(8)');

describe('divergence (#1)', () => {
  it('a NaN gradient norm with a finite loss stops with exit 3, names it and the step, keeps the last finite checkpoint; --resume --lr applies the advice', async () => {
    const dir = tmp();
    const file = spec(dir, 'nru.rnn', NRU);
    const out = join(dir, 'run');
    expect((await run(['train', file, '--out', out, '--steps', '4', '--checkpoint-every', '2', ...quick])).code).toBe(0);
    const r = await run(['train', '--resume', out, '--steps', '20', '--lr', '1e6', ...quick]);
    expect(r.code).toBe(3);
    const m = /training diverged at step (\d+): the gradient norm is NaN\n/.exec(r.err);
    expect(m, r.err).not.toBeNull();
    const step = Number(m![1]);
    expect(step).toBeGreaterThan(4);
    expect(r.err).toContain(`last finite checkpoint (step 4); continue from it with a lower rate or tighter clipping: cellstack train --resume ${out} --lr 100000`);
    expect(runJson(out)).toMatchObject({ status: 'diverged', steps: step - 1, error: `diverged at step ${step}: the gradient norm is NaN` });
    expect(readLines(join(out, 'metrics.jsonl')).map((l) => l.step)).toEqual(Array.from({ length: step - 1 }, (_, i) => i + 1));
    // Resuming with a lower rate starts from the finite checkpoint; each change is a segment of the run.
    const again = await run(['train', '--resume', out, '--lr', '0.001', ...quick]);
    expect(again.code, again.err).toBe(0);
    expect(again.err).toContain('resuming ' + out + ' at step 4/20');
    expect(again.err).toContain('resume changes learningRate 1000000 → 0.001');
    const rec = runJson(out);
    expect(rec).toMatchObject({ status: 'completed', steps: 20, settings: { learningRate: 0.001 } });
    expect(rec.segments).toEqual([
      expect.objectContaining({ fromStep: 0, changed: {} }),
      expect.objectContaining({ fromStep: 4, changed: { steps: 20, learningRate: 1e6 } }),
      expect.objectContaining({ fromStep: 4, changed: { learningRate: 0.001 } }),
    ]);
  });

  it('without a checkpoint the hint says so; a non-finite initial weight (forgetBias: 1e39, past float32) is refused before training (#10); 1e999 is refused by the language', async () => {
    const dir = tmp();
    const r = await run(['train', spec(dir, 'nru.rnn', NRU), '--out', join(dir, 'a'), '--steps', '20', '--lr', '1e6', '--checkpoint-every', '10', ...quick]);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/hint: no checkpoint was saved before step \d+; start again with a lower rate: cellstack train .*nru\.rnn --lr 100000 --out <new folder>/);
    const inf = await run(['train', spec(dir, 'inf.rnn', TINY.replace('LSTM(4)', 'LSTM(4, forgetBias: 1e39)')), '--out', join(dir, 'b'), ...quick]);
    expect(inf.code).toBe(1);
    expect(inf.err).toMatch(/the model's initial weights are not finite: weight 'lstm_0\/bias' holds an infinity/);
    expect(existsSync(join(dir, 'b'))).toBe(false); // nothing left behind: the same --out works again
    const huge = await run(['train', spec(dir, 'huge.rnn', TINY.replace('LSTM(4)', 'LSTM(4, forgetBias: 1e999)')), '--out', join(dir, 'c'), ...quick]);
    expect(huge.code).toBe(1);
    expect(huge.err).toMatch(/huge\.rnn:\d+:\d+: error: 1e999 is out of range/);
  });
});

describe('finishing and resume flags (#4, #6)', () => {
  it('a run killed after its last checkpoint but before model/ finishes on --resume; a finished one asks for --steps', async () => {
    const dir = tmp();
    const out = join(dir, 'run');
    expect((await run(['train', spec(dir, 't.rnn', TINY), '--out', out, '--checkpoint-every', '3', ...quick])).code).toBe(0);
    const weights = readdirSync(join(out, 'model'));
    rmSync(join(out, 'model'), { recursive: true });
    writeFileSync(join(out, 'run.json'), JSON.stringify({ ...runJson(out), status: 'running', validation: undefined }));
    const r = await run(['train', '--resume', out, ...quick]);
    expect(r.code, r.err).toBe(0);
    expect(readdirSync(join(out, 'model'))).toEqual(weights);
    expect(runJson(out)).toMatchObject({ status: 'completed', steps: 6, validation: { examples: 4 } });
    const done = await run(['train', '--resume', out, ...quick]);
    expect(done.code).toBe(2);
    expect(done.err).toContain('the run is already at step 6; pass --steps N (N > 6) to train further');
  });

  it('refuses in one line what resume cannot apply: another optimiser, seed, task or spec', async () => {
    const dir = tmp();
    const file = spec(dir, 't.rnn', TINY);
    const out = join(dir, 'run');
    expect((await run(['train', file, '--out', out, '--steps', '3', ...quick])).code).toBe(0);
    const cases: Array<[string[], RegExp]> = [
      [['--optimizer', 'sgd'], /--optimizer sgd cannot continue adam's state; start a new run/],
      [['--seed', '9'], /--seed 9 differs from the run's seed 3/],
      [['--task', 'copy(lag: 3)'], /--task copy\(lag: 3\) differs from the run's task/],
      [[spec(dir, 'other.rnn', TINY.replace('LSTM(4)', 'GRU(4)'))], /other\.rnn differs from the run's spec\.rnn/],
    ];
    for (const [extra, message] of cases) {
      const r = await run(['train', ...extra.filter((a) => a.endsWith('.rnn')), '--resume', out, '--steps', '5', ...extra.filter((a) => !a.endsWith('.rnn')), ...quick]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(message);
      expect(r.err.trim().split('\n')).toHaveLength(1);
    }
    expect(runJson(out).steps).toBe(3);
  });
});

describe('one owner per run folder (#5)', () => {
  it('a live lock is refused, a stale one recovered; a foreign non-empty folder is never overwritten', async () => {
    const dir = tmp();
    const file = spec(dir, 't.rnn', TINY);
    const out = join(dir, 'run');
    expect((await run(['train', file, '--out', out, '--steps', '3', ...quick])).code).toBe(0);
    expect(existsSync(join(out, 'lock.json'))).toBe(false);
    writeFileSync(join(out, 'lock.json'), JSON.stringify({ pid: process.pid, host: hostname(), since: 'now' }));
    const busy = await run(['train', '--resume', out, '--steps', '4', ...quick]);
    expect(busy.code).toBe(1);
    expect(busy.err).toContain(`is in use by another cellstack process (pid ${process.pid}`);
    const gone = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => gone.on('close', r));
    writeFileSync(join(out, 'lock.json'), JSON.stringify({ pid: gone.pid, host: hostname(), since: 'then' }));
    const stale = await run(['train', '--resume', out, '--steps', '4', ...quick]);
    expect(stale.code, stale.err).toBe(0);
    expect(stale.err).toContain(`recovered a stale lock on ${out} (pid ${gone.pid} is gone)`);

    const foreign = join(dir, 'foreign');
    cpSync(out, foreign, { recursive: true, filter: (f) => !f.endsWith('run.json') });
    const before = readFileSync(join(foreign, 'metrics.jsonl'), 'utf8');
    const r = await run(['train', file, '--out', foreign, ...quick]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/is not empty and is not a cellstack run folder \(it holds checkpoint\.json, checkpoints, loss\.png, …\); choose a new or empty --out/);
    expect(readFileSync(join(foreign, 'metrics.jsonl'), 'utf8')).toBe(before);
  });

  it('two runs started on one --out at once: one owns it, the other is refused, the folder is one run', async () => {
    const dir = tmp();
    const a = spec(dir, 'a.rnn', TINY);
    const b = spec(dir, 'b.rnn', TINY.replace('LSTM(4)', 'GRU(4)'));
    const out = join(dir, 'run');
    const [ra, rb] = await Promise.all([cli(['train', a, '--out', out, ...quick]), cli(['train', b, '--out', out, ...quick])]);
    const codes = [ra.code, rb.code].sort();
    expect(codes[0]).toBe(0);
    expect([1, 2]).toContain(codes[1]);
    const loser = ra.code === 0 ? rb : ra;
    expect(loser.stderr).toMatch(/in use by another cellstack process|already holds a run/);
    const winner = ra.code === 0 ? a : b;
    expect(readFileSync(join(out, 'spec.rnn'), 'utf8')).toBe(readFileSync(winner, 'utf8'));
    expect(readLines(join(out, 'metrics.jsonl')).map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('compare --out an existing comparison is refused and leaves it as it was', async () => {
    const dir = tmp();
    const out = join(dir, 'cmp');
    const file = spec(dir, 't.rnn', TINY);
    const first = await run(['compare', file, '--out', out, '--steps', '2', '--seeds', '1', '--jobs', '1', ...quick]);
    expect(first.code, first.err).toBe(0);
    const table = readFileSync(join(out, 'compare.md'), 'utf8');
    const again = await run(['compare', file, '--out', out, '--steps', '2', '--seeds', '1', '--jobs', '1', ...quick]);
    expect(again.code).toBe(2);
    expect(again.err).toContain(`'${out}' is not empty (it holds a comparison); choose a new --out`);
    expect(readFileSync(join(out, 'compare.md'), 'utf8')).toBe(table);
  });
});

describe('verified checkpoints and metrics repair (#7, #8)', () => {
  const setup = async () => {
    const dir = tmp();
    const out = join(dir, 'run');
    expect((await run(['train', spec(dir, 't.rnn', TINY), '--out', out, '--steps', '5', '--checkpoint-every', '4', ...quick])).code).toBe(0);
    return { dir, out };
  };

  it('names a flipped byte in the weights, a truncated optimizer.bin, and another model’s checkpoint', async () => {
    const { dir, out } = await setup();
    const ck = ckptDir(out);
    const wf = readdirSync(ck).find((f) => f.startsWith('weights-'))!;
    const keep = readFileSync(join(ck, wf));
    const flipped = Buffer.from(keep);
    flipped[10] ^= 0xff;
    writeFileSync(join(ck, wf), flipped);
    let r = await run(['train', '--resume', out, '--steps', '7', ...quick]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`is damaged: ${wf} does not match the hash in its manifest`);
    writeFileSync(join(ck, wf), keep);
    const opt = readFileSync(join(ck, 'optimizer.bin'));
    writeFileSync(join(ck, 'optimizer.bin'), opt.subarray(0, 20));
    r = await run(['train', '--resume', out, '--steps', '7', ...quick]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('is damaged: optimizer.bin does not match the hash in its manifest');
    writeFileSync(join(ck, 'optimizer.bin'), opt);

    // Another model's checkpoint copied in (checkpoint.json and its folder).
    const other = join(dir, 'other');
    expect((await run(['train', spec(dir, 'g.rnn', TINY.replace('LSTM(4)', 'GRU(4)')), '--out', other, '--steps', '5', '--checkpoint-every', '4', ...quick])).code).toBe(0);
    rmSync(join(out, 'checkpoints'), { recursive: true });
    cpSync(join(other, 'checkpoints'), join(out, 'checkpoints'), { recursive: true });
    copyFileSync(join(other, 'checkpoint.json'), join(out, 'checkpoint.json'));
    r = await run(['train', '--resume', out, '--steps', '7', ...quick]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/belongs to another model: it was written for a spec with hash [0-9a-f]{12}, this run's spec\.rnn has [0-9a-f]{12}/);
  });

  it('a garbage line in metrics.jsonl costs only itself: every valid line is kept and the damage reported', async () => {
    const { out } = await setup();
    const text = readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n');
    // Line 2 damaged in place, line 3 run into garbage, then the rest.
    text.splice(1, 0, 'garbage{');
    text[3] = `${text[3]}xx`;
    writeFileSync(join(out, 'metrics.jsonl'), text.join('\n'));
    const r = await run(['train', '--resume', out, '--steps', '7', ...quick]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain('metrics.jsonl: kept 4 lines; 2 damaged lines removed (line 2, 4); 1 step up to 5 missing');
    expect(readLines(join(out, 'metrics.jsonl')).map((l) => l.step)).toEqual([1, 2, 4, 5, 6, 7]);
  });
});

describe('user errors exit 1/2, never 70 (#9)', () => {
  it('a PNG as the spec, --out a file or under a file', async () => {
    const dir = tmp();
    const png = join(dir, 'x.png');
    writeFileSync(png, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0xff, 0xfe]));
    let r = await run(['train', png, ...quick]);
    expect([r.code, r.err]).toEqual([1, `error: cannot read spec '${png}': it is not a text file\n`]);
    const file = spec(dir, 't.rnn', TINY);
    r = await run(['train', file, '--out', file, ...quick]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`cannot write the run folder '${file}': a file is in the way (a folder was expected)`);
    r = await run(['train', file, '--out', join(file, 'sub'), ...quick]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/cannot write the run folder '.*t\.rnn.*': a file is in the way/);
    if (process.platform === 'linux') {
      r = await run(['train', file, '--out', '/proc/cellstack-nope', ...quick]);
      expect([r.code, r.err.trim().split('\n').pop()]).toEqual([1, "error: cannot write the run folder '/proc/cellstack-nope': no such file or folder"]);
    }
  });

  it('an allocation failure during training is a one-line error (exit 1), and run.json says failed, not running', async () => {
    const dir = tmp();
    const out = join(dir, 'run');
    vi.spyOn(LayersModel.prototype, 'trainOnBatch').mockRejectedValueOnce(new RangeError('Invalid typed array length: 4294967296'));
    let err = '';
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    vi.spyOn(process.stderr, 'write').mockImplementation((d) => ((err += String(d)), true));
    const code = await main(['train', spec(dir, 't.rnn', TINY), '--out', out, ...quick]);
    vi.restoreAllMocks();
    expect(code).toBe(1);
    expect(err).toContain('error: out of memory at batch 4 × sequence length 6 (Invalid typed array length: 4294967296); lower --batch (e.g. 1) or the sequence length');
    expect(runJson(out)).toMatchObject({ status: 'failed', error: 'Invalid typed array length: 4294967296' });
    expect(existsSync(join(out, 'lock.json'))).toBe(false);
  });

  it('a run too large for the backend is refused before training, with the largest batch that fits', async () => {
    const dir = tmp();
    const big = spec(dir, 'big.rnn', 'input [null, 10]\nLSTM(128) -> dense(9, activation: softmax)\ntrain {\n  task: copy(lag: 5000)\n  batch: 256\n}\n');
    const r = await run(['train', big, '--out', join(dir, 'big'), '--backend', 'wasm', ...quick]);
    expect(r.code).toBe(1);
    // 32 bytes × 5020 steps × the layer widths per example: over the 4 GiB wasm heap.
    expect(r.err).toMatch(/error: training needs about [\d.]+ GiB of activations \(sequence 5020 × batch 256 × layer widths \d+\), over the 4\.0 GiB wasm heap; the largest batch that fits is \d+/);
    expect(existsSync(join(dir, 'big'))).toBe(false);
  });
});

describe('kill and resume is bit-exact (#2, #3)', () => {
  it('RRU with dropout: SIGKILL after a checkpoint, resume, same weights as the uninterrupted run', async () => {
    const dir = tmp();
    const file = spec(dir, 'r.rnn', TINY.replace('LSTM(4)', 'RRU(4, dropout: 0.5)'));
    const out = join(dir, 'killed');
    const { child, done } = start(['train', file, '--out', out, '--steps', '100000', '--checkpoint-every', '3', '--progress', 'none']);
    await waitFor(() => existsSync(join(out, 'checkpoint.json')));
    child.kill('SIGKILL');
    await done;
    const saved = JSON.parse(readFileSync(join(out, 'checkpoint.json'), 'utf8')).step as number;
    const to = String(saved + 4);
    const [resumed, straight] = await Promise.all([cli(['train', '--resume', out, '--steps', to, ...quick]), cli(['train', file, '--out', join(dir, 'straight'), '--steps', to, '--checkpoint-every', '3', ...quick])]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(straight.code, straight.stderr).toBe(0);
    const names = (d: string) => readdirSync(join(d, 'model')).filter((f) => f.startsWith('weights-'));
    expect(names(out)).toEqual(names(join(dir, 'straight')));
    const untimed = (d: string) => readLines(join(d, 'metrics.jsonl')).map((l) => ({ ...l, time: 0 }));
    expect(untimed(out)).toEqual(untimed(join(dir, 'straight')));
  });
});

afterEach(() => vi.restoreAllMocks());
