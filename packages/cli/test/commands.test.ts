import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { format } from '@cellstack/dsl';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { nativeKernels, setKernelPreference } from '@cellstack/core';
import { main } from '@cellstack/cli';
import { spec, tmp } from './helpers.js';

let stdout = '';
let stderr = '';
beforeEach(() => {
  stdout = '';
  stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((stdout += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((stderr += String(s)), true));
});
afterEach(() => vi.restoreAllMocks());

const dir = tmp();

describe('summary, check, fmt, cells, tasks (in process)', () => {
  it('summary: layers, output shapes and parameter counts', async () => {
    const file = spec(dir, 'sum.rnn', 'input [20, 10]\nLSTM(4) -> last -> dense(3)\n');
    expect(await main(['summary', file])).toBe(0);
    expect(stdout).toMatch(/input\s+input\s+\[20, 10\]\s+0/);
    expect(stdout).toMatch(/lstm_0\s+LSTM\s+\[4\]\s+240/); // `last` folds into the cell
    expect(stdout).toMatch(/dense_\d+\s+Dense\s+\[3\]\s+15/);
    expect(stdout).toContain('total parameters: 255 (trainable 255)');
  });

  it('summary: masks and directions', async () => {
    const file = spec(dir, 'masked.rnn', 'input [20, 3]\nmasking(0) -> bidirectional(GRU(4), merge: sum) x2 -> GRU(4) -> last -> dense(1)\n');
    expect(await main(['summary', file])).toBe(0);
    expect(stdout).toMatch(/masking_0\s+Masking \(value 0\)\s+\[20, 3\]\s+0\s+makes\n/);
    expect(stdout).toMatch(/gru_1\s+GRU \(bidirectional, sum\)\s+\[20, 4\]\s+192\s+in → out\n/); // 2 × 96
    expect(stdout).toMatch(/gru_3\s+GRU\s+\[4\]\s+108\s+in\n/); // `last` ends the mask
    expect(stdout).toMatch(/dense_4\s+Dense\s+\[1\]\s+5\n/);
    const ids = spec(dir, 'ids.rnn', 'input [20, 1]\nembedding(30, 4, maskZero: true) -> bidirectional(GRU(4)) -> mean -> dense(2)\n');
    expect(await main(['summary', ids])).toBe(0);
    expect(stdout).toMatch(/Embedding \(id 0 = padding\)\s+\[20, 4\]\s+120\s+makes\n/);
    expect(stdout).toMatch(/GRU \(bidirectional, concat\)\s+\[20, 8\]\s+216\s+in → out\n/); // 2 × 108 (input 4)
    expect(stdout).toMatch(/MeanSteps\s+\[8\]\s+0\s+in\n/);
  });

  it('check: ok lines, DSL diagnostics with positions, task fit and task option errors', async () => {
    const good = spec(dir, 'good.rnn', 'input [null, 10]\nGRU(4) -> dense(9, activation: softmax)\ntrain { task: copy(lag: 3) }\n');
    const typo = spec(dir, 'typo.rnn', 'input [null, 10]\nLSTMM(4) -> dense(9)\n');
    const head = spec(dir, 'head.rnn', 'input [null, 10]\nLSTM(4) -> dense(5)\ntrain { task: copy(lag: 3) }\n');
    const pooled = spec(dir, 'pooled.rnn', 'input [null, 10]\nLSTM(4) -> last -> dense(9)\ntrain { task: copy(lag: 3) }\n');
    const opt = spec(dir, 'opt.rnn', 'input [null, 10]\nLSTM(4) -> dense(9)\ntrain {\n  task: copy(lag: 0)\n}\n');
    expect(await main(['check', good])).toBe(0);
    expect(stdout).toContain(`ok  ${good}: `);
    expect(stdout).toContain('fits task copy');
    expect(await main(['check', good, typo, head, pooled, opt])).toBe(1);
    expect(stderr).toMatch(new RegExp(`${typo}:2:1: error: .*unknown cell 'LSTMM'.*did you mean LSTM`));
    expect(stderr).toContain(`${head}: error: the model does not fit task copy: its output has 5 units, the task needs 9 classes`);
    expect(stderr).toContain("hint: end with '-> dense(9, activation: softmax)'");
    expect(stderr).toContain(`${pooled}: error: the model does not fit task copy: the task scores every step but the model outputs [9] (pooled over time)`);
    expect(stderr).toMatch(new RegExp(`${opt}:4:9: error: task.lag: must be an integer >= 1 \\(got 0\\)`));
    expect(stderr).toContain('4 of 5 file(s) with errors');
    expect(await main(['check', good, '--task', 'adding(length: 5)'])).toBe(1);
    expect(stderr).toMatch(/good\.rnn:1:1: error: this file's input \[null, 10\] does not match the data's \[5, 2\]/);
  });

  it('fmt: --check reports, fmt rewrites to the canonical form, then --check passes', async () => {
    const messy = 'input   [null,10]\nLSTM( 4 )->dense(9)   # head\n';
    const file = spec(dir, 'messy.rnn', messy);
    expect(await main(['fmt', '--check', file])).toBe(1);
    expect(stdout).toContain(`would reformat ${file}`);
    expect(readFileSync(file, 'utf8')).toBe(messy);
    expect(await main(['fmt', file])).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(format(messy, { file }));
    expect(await main(['fmt', '--check', file])).toBe(0);
    const broken = spec(dir, 'broken.rnn', 'LSTM(4) -> -> dense(9)\n');
    expect(await main(['fmt', broken])).toBe(1);
    expect(stderr).toMatch(new RegExp(`${broken}:1:\\d+: error:`));
  });

  it('cells lists every registered cell with defaults from its schema; tasks lists the suite', async () => {
    expect(await main(['cells', '--json'])).toBe(0);
    const cells = JSON.parse(stdout) as Array<{ name: string; defaults: Record<string, unknown>; path: string }>;
    const names = cells.map((c) => c.name);
    for (const n of ['LSTM', 'GRU', 'NRU', 'URLSTM', 'STAR', 'RRU', 'DMU']) expect(names).toContain(n);
    expect(cells.find((c) => c.name === 'NRU')!.defaults).toMatchObject({ hidden: 80, memory: 64, heads: 4 });
    // Every first-party cell has a hand-written kernel and traces; by default (kernel preference 'auto') UR-LSTM
    // runs its traced step wherever the addon runs traced programs, RRU there in inference on ≥ 2 threads (their
    // tracedWins; `cells` reports an inference call), the others their kernels.
    const { traced, threads } = nativeKernels();
    const tracedCells = traced ? ['URLSTM', ...(threads > 1 ? ['RRU'] : [])] : [];
    for (const c of cells) expect(c.path, c.name).toBe(tracedCells.includes(c.name) ? 'traced' : 'hand-written');
    setKernelPreference('traced');
    try {
      stdout = '';
      expect(await main(['cells', '--json'])).toBe(0);
      for (const c of JSON.parse(stdout) as Array<{ name: string; path: string }>) expect(c.path, c.name).toBe('traced');
    } finally {
      setKernelPreference('auto');
    }
    stdout = '';
    expect(await main(['cells', 'star'])).toBe(0);
    expect(stdout).toMatch(/^STAR\(units\) — /);
    expect(stdout).toMatch(/^ {2}path \(defaults, cpu\): hand-written$/m);
    expect(stdout).toMatch(/^ {2}units\s+default 128\s+/m);
    expect(await main(['cells', 'nope'])).toBe(1);
    expect(stderr).toContain("error: unknown cell 'nope'; registered cells: LSTM, GRU");
    stdout = '';
    expect(await main(['tasks'])).toBe(0);
    for (const t of ['copy', 'copy-ur', 'variable-copy', 'denoise', 'adding', 'adding-hs', 'temporal-order', 'noisy-sequence', 'mnist', 'pmnist', 'char-lm']) {
      expect(stdout).toMatch(new RegExp(`^${t} — `, 'm'));
    }
    expect(stdout).toMatch(/^ {2}lag\s+default 100\s+Lag T/m);
  });
});

describe('examples/', () => {
  it('every example spec compiles and fits its task', async () => {
    const { readdirSync } = await import('node:fs');
    const root = join(import.meta.dirname, '../../../examples');
    const files = readdirSync(root, { recursive: true }).map(String).filter((f) => f.endsWith('.rnn')).map((f) => join(root, f));
    expect(files.length).toBeGreaterThanOrEqual(20);
    expect(await main(['check', ...files])).toBe(0);
    expect(stdout.match(/^ok {2}/gm)).toHaveLength(files.length);
  });
});

describe('bad flags and bad files (in process): one line, documented exit code', () => {
  const good = spec(dir, 'ok.rnn', 'input [null, 10]\nLSTM(2) -> dense(9)\ntrain { task: copy(lag: 2, symbols: 2)  steps: 2 }\n');
  const cases: Array<[string[], number, RegExp]> = [
    [['frobnicate'], 2, /unknown command 'frobnicate'/],
    [['train', good, '--steps', '-3'], 2, /option '--steps <n>' argument '-3' is invalid\. must be a whole number >= 1/],
    [['train', good, '--lr', 'fast'], 2, /argument 'fast' is invalid\. must be a number > 0/],
    [['train', good, '--backend', 'gpu'], 2, /argument 'gpu' is invalid\. Allowed choices are auto, tensorflow, webgpu, wasm, cpu/],
    [['train', good, '--bogus'], 2, /unknown option '--bogus'/],
    [['train'], 2, /error: train needs a spec file/],
    [['train', join(dir, 'missing.rnn')], 1, /error: cannot read spec '.*missing\.rnn': no such file/],
    [['train', dir], 1, /error: cannot read spec '.*': it is a folder/],
    [['train', good, '--task', 'coppy'], 2, /error: --task: unknown task 'coppy'; available: copy, .* \(did you mean copy\?\)/],
    [['train', good, '--task', 'copy(lag: -1)'], 1, /error: task.lag: must be an integer >= 1 \(got -1\)/],
    [['train', good, '--task', 'copy(lag 3'], 2, /error: --task: expected a task such as copy/],
    [['train', good, '--epochs', '1'], 2, /error: epochs: task copy generates fresh data every step; give steps instead/],
    [['train', good, '--task', 'char-lm(file: "/no/such.txt")'], 1, /error: task.file: cannot read '\/no\/such.txt' \(no such file\)/],
    [['train', '--resume', dir], 1, /error: '.*' is not a run folder: it has no run.json/],
    [['compare', good, '--seeds', '0'], 2, /option '--seeds <n>' argument '0' is invalid/],
    [['summary', spec(dir, 'noinput.rnn', 'LSTM(2) -> dense(9)\n')], 1, /noinput\.rnn:1:1: error: no input shape/],
  ];
  it.each(cases)('%j → exit %i', async (args, code, message) => {
    expect(await main(args)).toBe(code);
    expect(stderr).toMatch(message);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('a diverging run stops with exit 3 and a hint', async () => {
    const file = spec(dir, 'diverge.rnn', 'input [null, 2]\nGRU(3) -> last -> dense(1)\ntrain { task: adding(length: 4)  batch: 4 }\n');
    expect(await main(['train', file, '--lr', '1e30', '--clip', '1e30', '--steps', '50', '--out', join(dir, 'diverged'), '--progress', 'none'])).toBe(3);
    expect(stderr).toMatch(/error: training diverged at step \d+: (the (loss|gradient norm|mse) is (NaN|-?Infinity)|weight '[^']+' holds (NaN|an infinity))\n/);
    expect(stderr).toMatch(/hint: (the run folder keeps the last finite checkpoint \(step \d+\)|no checkpoint was saved before step \d+); .* --lr 1e\+29/);
    expect(JSON.parse(readFileSync(join(dir, 'diverged', 'run.json'), 'utf8')).status).toBe('diverged');
  });

  it('a damaged run folder is a one-line error on --resume', async () => {
    const out = join(dir, 'damaged');
    expect(await main(['train', good, '--out', out, '--steps', '2', '--checkpoint-every', '1', '--val-size', '2', '--progress', 'none'])).toBe(0);
    writeFileSync(join(out, 'checkpoint.json'), JSON.stringify({ step: 1, dir: 'checkpoints/gone', time: 0 }));
    expect(await main(['train', '--resume', out, '--steps', '4'])).toBe(1);
    expect(stderr).toMatch(/error: .*checkpoints\/gone\/model\.json: no model here/);
    writeFileSync(join(out, 'run.json'), '{ not json');
    expect(await main(['train', '--resume', out])).toBe(1);
    expect(stderr).toContain(`${join(out, 'run.json')} is not valid JSON (the run folder is damaged)`);
  });

  it('a run folder is never overwritten', async () => {
    const out = join(dir, 'taken');
    spec(dir, 'taken-marker', '');
    await import('node:fs').then((fs) => fs.mkdirSync(out, { recursive: true }));
    writeFileSync(join(out, 'run.json'), '{}');
    expect(await main(['train', good, '--out', out])).toBe(2);
    expect(stderr).toContain(`'${out}' already holds a run; continue it with --resume ${out}, or choose another --out`);
  });
});
