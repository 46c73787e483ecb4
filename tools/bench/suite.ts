/**
 * The benchmark table of issue 11: every cell on W1/W2/W3, generic loop vs fused kernel (its
 * products in wasm, and through the native addon when @cellstack/native is built), and — when
 * Python with torch is importable — the PyTorch counterparts in the same invocation, with
 * ratios. Each figure is the median of --runs separate processes.
 *
 *   npx tsx --conditions=@cellstack/source tools/bench/suite.ts [--cells STAR,LSTM] [--workloads W1,W2,W3]
 *       [--paths generic,fused,native] [--runs 3] [--steps 5] [--warmup 5] [--memory] [--out bench.json]
 *
 * --paths leaves out paths (the generic loop takes most of a full run); native runs only where the addon is built.
 * --render a.log[,b.log] only re-renders the tables from the JSON lines of earlier runs.
 * --memory adds workload M (BPTT over 784 steps of 16 STAR layers of 64, batch 100): peak RSS of one
 * training step on each path (generic on wasm and on cpu, fused with wasm and native products, PyTorch loop);
 * a run that fails is reported.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { nativeKernels } from '@cellstack/core';
import { cliArgs } from './args.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const ALL = ['LSTM', 'GRU', 'SimpleRNN', 'JANET', 'STAR', 'NRU', 'URLSTM', 'URGRU', 'RRU', 'DMU'];

const USAGE = 'usage: npx tsx --conditions=@cellstack/source tools/bench/suite.ts [--cells STAR,LSTM] [--workloads W1,W2,W3] [--paths generic,fused,native] [--runs 3] [--steps 5] [--warmup 5] [--memory] [--torch auto|off] [--out bench.json] [--render a.log,b.log]';
const args = cliArgs('suite', USAGE, {
  options: {
    help: { type: 'boolean', default: false },
    cells: { type: 'string', default: ALL.join(',') },
    workloads: { type: 'string', default: 'W1,W2,W3' },
    paths: { type: 'string', default: 'generic,fused,native' },
    runs: { type: 'string', default: '3' },
    steps: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '5' },
    memory: { type: 'boolean', default: false },
    torch: { type: 'string', default: 'auto' },
    out: { type: 'string' },
    render: { type: 'string' },
  },
});
const runs = Number(args.runs);

type Row = Record<string, unknown> & { stepsPerSec: number };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function lastJson(out: string): Row {
  const line = out.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (!line) throw new Error(`no JSON line in: ${out.slice(-500)}`);
  return JSON.parse(line) as Row;
}

/** generic: the step loop; fused: the kernels with their products in wasm; native: products through the addon. */
type Path = 'generic' | 'fused' | 'native';

function ours(cell: string, workload: string, kind: Path, extra: string[] = [], times = runs): Row {
  const rows: Row[] = [];
  for (let i = 0; i < times; i++) {
    try {
      rows.push(
        lastJson(
          execFileSync(process.execPath, ['--import', 'tsx', '--conditions=@cellstack/source', path.join(here, 'bench.ts'), '--workload', workload, '--cell', cell, '--steps', args.steps!, '--warmup', args.warmup!, ...extra], {
            cwd: root,
            encoding: 'utf8',
            env: { ...process.env, CELLSTACK_FUSED: kind === 'generic' ? '0' : '1', CELLSTACK_NATIVE: kind === 'native' ? '1' : '0' },
            stdio: ['ignore', 'pipe', 'pipe'],
            maxBuffer: 1 << 24,
          }),
        ),
      );
    } catch (e) {
      // A run that fails (e.g. the wasm32 heap's 4 GiB exhausted) is a result too: report it, don't retry.
      const stderr = String((e as { stderr?: string }).stderr ?? e).trim().split('\n').pop();
      const backend = extra.includes('--backend') ? extra[extra.indexOf('--backend') + 1] : 'wasm';
      return { workload, cell, backend, path: kind === 'generic' ? 'generic' : 'fused', native: kind === 'native' ? 'failed' : null, stepsPerSec: NaN, error: stderr };
    }
  }
  const m = median(rows.map((r) => r.stepsPerSec));
  return { ...rows.find((r) => r.stepsPerSec === m)!, runs: rows.map((r) => r.stepsPerSec) };
}

/** The Python that can import torch: $PYTHON, python3, or Debian's /usr/bin/python3. */
function findTorchPython(): string | undefined {
  if (args.torch === 'off') return undefined;
  for (const py of [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean) as string[]) {
    try {
      execFileSync(py, ['-c', 'import torch'], { stdio: 'ignore' });
      return py;
    } catch {
      // not this one
    }
  }
  return undefined;
}

function pytorch(py: string, cell: string, workload: string, extra: string[] = [], times = runs): Row[] {
  const lines = Array.from({ length: times }, () =>
    execFileSync(py, [path.join(here, 'torch_cells.py'), '--workload', workload, '--cell', cell, '--steps', args.steps!, '--warmup', args.warmup!, ...extra], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Row),
  );
  // One line per system (loop cell, and nn.LSTM / nn.GRU where PyTorch has a fused module).
  return lines[0].map((first, i) => {
    const all = lines.map((ls) => ls[i].stepsPerSec);
    return { ...first, stepsPerSec: median(all), runs: all };
  });
}

/** The markdown table (and memory table) from result rows; ratios of medians. */
function render(results: Row[], py: string | undefined): string {
  const fmt = (x: number | undefined) => (x === undefined ? '—' : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  const find = (w: unknown, c: unknown, key: string, value: string, native = false) =>
    results.find((r) => r.workload === w && r.cell === c && r[key] === value && r.backend !== 'cpu' && Boolean(r.native) === native);
  const table: string[] = [];
  const seen = new Set<string>();
  for (const r of results) {
    const key = `${String(r.workload)}/${String(r.cell)}`;
    if (r.workload === 'M' || seen.has(key)) continue;
    seen.add(key);
    const generic = find(r.workload, r.cell, 'path', 'generic');
    const wasm = find(r.workload, r.cell, 'path', 'fused');
    const native = find(r.workload, r.cell, 'path', 'fused', true);
    const fused = native ?? wasm; // the ratios: the fastest path a user gets by default
    const loop = find(r.workload, r.cell, 'system', 'pytorch-loop');
    const nn = find(r.workload, r.cell, 'system', 'pytorch-fused');
    const ratio = (a?: Row, b?: Row) => (a && b ? `${(a.stepsPerSec / b.stepsPerSec).toFixed(2)}×` : '—');
    table.push(`| ${String(r.workload)} | ${String(r.cell)} | ${fmt(generic?.stepsPerSec)} | ${fmt(wasm?.stepsPerSec)} | ${fmt(native?.stepsPerSec)} | ${ratio(fused, generic)} | ${fmt(loop?.stepsPerSec)} | ${ratio(fused, loop)} | ${fmt(nn?.stepsPerSec)} | ${ratio(fused, nn)} |`);
  }
  const memory: string[] = [];
  const mem = [
    ['generic (wasm)', find('M', 'STAR', 'path', 'generic')],
    ['generic (cpu)', results.find((r) => r.workload === 'M' && r.path === 'generic' && r.backend === 'cpu')],
    ['fused (wasm)', find('M', 'STAR', 'path', 'fused')],
    ['fused (native)', find('M', 'STAR', 'path', 'fused', true)],
    ['PyTorch loop', find('M', 'STAR', 'system', 'pytorch-loop')],
  ].filter((m): m is [string, Row] => m[1] !== undefined);
  if (mem.length > 0) {
    const cell = (r: Row, v: string) => (r.error ? `failed: ${String(r.error).replace(/^bench: /, '')}` : v);
    memory.push(
      '',
      `| BPTT over 784 steps, 16 STAR layers of 64, batch 100 | ${mem.map((m) => m[0]).join(' | ')} |`,
      `|---|${mem.map(() => '---:').join('|')}|`,
      `| peak RSS (MiB) | ${mem.map(([, r]) => cell(r, String(r.peakRssMiB))).join(' | ')} |`,
      `| seconds per training step | ${mem.map(([, r]) => cell(r, (typeof r.secondsPerStep === 'number' ? r.secondsPerStep : 1 / r.stepsPerSec).toFixed(1))).join(' | ')} |`,
    );
  }
  const machine = `${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const t = results.find((r) => r.torch);
  const torchNote = t ? `PyTorch ${String(t.torch)} via ${py ?? 'python3'}, ${String(t.threads)} thread(s), BLAS: ${String(t.blas).split(' via ')[0]}` : 'PyTorch: not importable here, its columns are empty';
  const isa = results.find((r) => r.native && r.native !== 'failed')?.native;
  const nativeNote = isa ? `native addon: ${String(isa)}` : 'native addon: not built here, its column is empty';
  return [
    `Machine: ${machine}; tfjs 4.22 wasm backend (1 thread); ${nativeNote}; ${torchNote}. Medians of ${runs} processes; training steps (W1, W2) or forward passes (W3) per second.`,
    '',
    '| workload | cell | generic | fused (wasm) | fused (native) | fused/generic | PyTorch loop cell | fused/loop | PyTorch nn module | fused/nn |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...table,
    ...memory,
  ].join('\n');
}

const py = findTorchPython();
const paths = args.paths!.split(',');
const bad = paths.find((p) => !['generic', 'fused', 'native'].includes(p));
if (bad) {
  console.error(`suite: --paths: unknown path '${bad}' (allowed: generic, fused, native)`);
  process.exit(2);
}
const included = (kind: Path) => paths.includes(kind) && (kind !== 'native' || nativeKernels().available);
const results: Row[] = [];
const emit = (r: Row) => {
  results.push(r);
  console.log(JSON.stringify(r));
};
if (args.render) {
  // Re-render from the JSON lines of earlier runs (one file or several).
  for (const file of args.render.split(',')) for (const line of readFileSync(file, 'utf8').split('\n')) if (line.startsWith('{')) results.push(JSON.parse(line) as Row);
} else {
  for (const workload of args.workloads!.split(',')) {
    for (const cell of args.cells!.split(',')) {
      for (const kind of ['generic', 'fused', 'native'] as const) if (included(kind)) emit(ours(cell, workload, kind));
      try {
        if (py) pytorch(py, cell, workload).forEach(emit);
      } catch {
        console.error(`suite: no PyTorch counterpart of ${cell} (${workload})`);
      }
    }
  }
  if (args.memory) {
    // One process, one training step each (peak memory barely varies; the generic cpu step takes ~15 min).
    // The generic path also runs on the cpu backend, whose tensors are not bound by wasm32's 4 GiB.
    const one = ['--steps', '1', '--warmup', '0'];
    if (included('generic')) emit(ours('STAR', 'M', 'generic', one, 1));
    if (included('generic')) emit(ours('STAR', 'M', 'generic', [...one, '--backend', 'cpu'], 1));
    if (included('fused')) emit(ours('STAR', 'M', 'fused', one, 1));
    if (included('native')) emit(ours('STAR', 'M', 'native', one, 1));
    if (py) pytorch(py, 'STAR', 'M', one, 1).forEach(emit);
  }
}
const md = render(results, py);
console.log(`\n${md}`);
if (args.out) writeFileSync(args.out, JSON.stringify({ results, markdown: md }, null, 2));
