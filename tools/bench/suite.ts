/**
 * The benchmark table of issue 11: every cell on W1/W2/W3, generic loop vs fused kernel (its
 * products in wasm, and through the native addon when @cellstack/native is built), and — when
 * Python with torch is importable — the PyTorch counterparts in the same invocation, with
 * ratios. Each figure is the median of --runs separate processes.
 *
 *   npx tsx --conditions=@cellstack/source tools/bench/suite.ts [--cells STAR,LSTM] [--workloads W1,W2,W3]
 *       [--paths generic,fused,native] [--runs 3] [--steps 5] [--warmup 5] [--memory] [--scaling LSTM,STAR] [--out bench.json]
 *
 * --paths leaves out paths (the generic loop takes most of a full run); native runs only where the addon is built.
 * Runs are interleaved (run i of every path and of PyTorch on 1 and on every core before run i + 1); PyTorch
 * is reported at its faster thread count. --scaling adds workload L (T 100, batch 128, 2 layers of 512) for
 * those cells, native products on 1 thread vs every core, and PyTorch likewise.
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
import { addonPeak } from './peak.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const ALL = ['LSTM', 'GRU', 'SimpleRNN', 'JANET', 'STAR', 'NRU', 'URLSTM', 'URGRU', 'RRU', 'DMU'];

const USAGE = 'usage: npx tsx --conditions=@cellstack/source tools/bench/suite.ts [--cells STAR,LSTM] [--workloads W1,W2,W3] [--paths generic,fused,native] [--runs 3] [--steps 5] [--warmup 5] [--memory] [--scaling LSTM] [--torch auto|off] [--torch-threads 1,2] [--out bench.json] [--render a.log,b.log]';
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
    scaling: { type: 'string' },
    'torch-threads': { type: 'string' },
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

/** One process of bench.ts; `threads` sets CELLSTACK_THREADS (default: the process's). */
function oursOnce(cell: string, workload: string, kind: Path, extra: string[] = [], threads?: number): Row {
  try {
    return lastJson(
      execFileSync(process.execPath, ['--import', 'tsx', '--conditions=@cellstack/source', path.join(here, 'bench.ts'), '--workload', workload, '--cell', cell, '--steps', args.steps!, '--warmup', args.warmup!, ...(kind === 'native' ? ['--peak'] : []), ...extra], {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, CELLSTACK_FUSED: kind === 'generic' ? '0' : '1', CELLSTACK_NATIVE: kind === 'native' ? '1' : '0', ...(threads ? { CELLSTACK_THREADS: String(threads) } : {}) },
        stdio: ['ignore', 'pipe', 'pipe'],
        maxBuffer: 1 << 24,
      }),
    );
  } catch (e) {
    // A run that fails (e.g. the wasm32 heap's 4 GiB exhausted) is a result too: report it, don't retry.
    const stderr = String((e as { stderr?: string }).stderr ?? e).trim().split('\n').pop();
    const backend = extra.includes('--backend') ? extra[extra.indexOf('--backend') + 1] : 'wasm';
    return { workload, cell, backend, path: kind === 'generic' ? 'generic' : 'fused', native: kind === 'native' ? 'failed' : null, stepsPerSec: NaN, error: stderr };
  }
}

/** The median run of several (their rates kept in `runs`; `ofPeak`, the fraction of each process's own addon peak, medianed too). */
function medianRow(rows: Row[]): Row {
  const m = median(rows.map((r) => r.stepsPerSec));
  const ofPeak = rows.map((r) => r.ofPeak).filter((x): x is number => typeof x === 'number');
  return { ...rows.find((r) => r.stepsPerSec === m || Number.isNaN(m))!, runs: rows.map((r) => r.stepsPerSec), ...(ofPeak.length ? { ofPeak: median(ofPeak), ofPeakRuns: ofPeak } : {}) };
}

function ours(cell: string, workload: string, kind: Path, extra: string[] = [], times = runs): Row {
  return medianRow(Array.from({ length: times }, () => oursOnce(cell, workload, kind, extra)));
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

/** One process of torch_cells.py: one line per system (loop cell, and nn.LSTM / nn.GRU where PyTorch has a fused module). */
function pytorchOnce(py: string, cell: string, workload: string, extra: string[] = []): Row[] {
  return execFileSync(py, [path.join(here, 'torch_cells.py'), '--workload', workload, '--cell', cell, '--steps', args.steps!, '--warmup', args.warmup!, ...extra], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Row);
}

function pytorch(py: string, cell: string, workload: string, extra: string[] = [], times = runs): Row[] {
  const lines = Array.from({ length: times }, () => pytorchOnce(py, cell, workload, extra));
  return lines[0].map((_, i) => medianRow(lines.map((ls) => ls[i])));
}

/** Per PyTorch system, the median row of the thread count where it was fastest (the others kept in `otherThreads`). */
function fastestTorch(rows: Row[]): Row[] {
  const systems = [...new Set(rows.map((r) => String(r.system)))];
  return systems.map((system) => {
    const byThreads = [...new Set(rows.filter((r) => r.system === system).map((r) => Number(r.threads)))].map((t) => medianRow(rows.filter((r) => r.system === system && Number(r.threads) === t)));
    byThreads.sort((a, b) => b.stepsPerSec - a.stepsPerSec);
    return { ...byThreads[0], otherThreads: byThreads.slice(1).map((r) => ({ threads: r.threads, stepsPerSec: r.stepsPerSec })) };
  });
}

/** The markdown table (and memory table) from result rows; ratios of medians. */
function render(results: Row[], py: string | undefined): string {
  const fmt = (x: number | undefined) => (x === undefined ? '—' : x >= 10 ? x.toFixed(1) : x >= 0.1 ? x.toFixed(2) : x.toPrecision(2));
  const find = (w: unknown, c: unknown, key: string, value: string, native = false) =>
    results.find((r) => r.workload === w && r.cell === c && r[key] === value && r.backend !== 'cpu' && Boolean(r.native) === native);
  const peak = results.find((r) => r.workload === 'peak')?.peakGflops as { w1: number; large: number; best?: number } | undefined;
  const best = peak && (peak.best ?? Math.max(peak.w1, peak.large));
  // A median with the spread of its processes: "15.5 (14.1–16.0)".
  const spread = (r?: Row) => {
    if (!r) return '—';
    const xs = ((r.runs as number[] | undefined) ?? []).filter((x) => !Number.isNaN(x));
    return xs.length > 1 ? `${fmt(r.stepsPerSec)} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})` : fmt(r.stepsPerSec);
  };
  const withThreads = (r?: Row) => (r ? `${spread(r)} [${String(r.threads)}t]` : '—');
  const rate = (r?: Row) => {
    if (!r || typeof r.gflops !== 'number') return '—';
    const t = Number(r.threads ?? 1);
    // Against the peak its own processes measured (bench --peak), else this run's.
    // One decimal: a target of 50 % must not read as met at 49.5 %.
    if (typeof r.ofPeak === 'number') return `${r.gflops} (${(100 * r.ofPeak).toFixed(1)} %)`;
    return best ? `${r.gflops} (${((100 * r.gflops) / t / best).toFixed(1)} %)` : String(r.gflops);
  };
  const table: string[] = [];
  const seen = new Set<string>();
  for (const r of results) {
    const key = `${String(r.workload)}/${String(r.cell)}`;
    if (r.workload === 'M' || r.workload === 'L' || r.workload === 'peak' || seen.has(key)) continue;
    seen.add(key);
    const generic = find(r.workload, r.cell, 'path', 'generic');
    const wasm = find(r.workload, r.cell, 'path', 'fused');
    const native = find(r.workload, r.cell, 'path', 'fused', true);
    const fused = native ?? wasm; // the ratios: the fastest path a user gets by default
    const loop = find(r.workload, r.cell, 'system', 'pytorch-loop');
    const nn = find(r.workload, r.cell, 'system', 'pytorch-fused');
    const ratio = (a?: Row, b?: Row) => (a && b ? `${(a.stepsPerSec / b.stepsPerSec).toFixed(2)}×` : '—');
    const target = r.workload === 'W3' ? 1.0 : 1.2;
    const met = (a?: Row, b?: Row, want = target) => (a && b ? (a.stepsPerSec / b.stepsPerSec >= want ? ' ✓' : ' ✗') : '');
    table.push(
      `| ${String(r.workload)} | ${String(r.cell)} | ${fmt(generic?.stepsPerSec)} | ${fmt(wasm?.stepsPerSec)} | ${native ? withThreads(native) : '—'} | ${rate(native)} | ` +
        `${withThreads(loop)} | ${ratio(fused, loop)}${met(fused, loop)} | ${withThreads(nn)} | ${ratio(fused, nn)}${met(fused, nn, 1.0)} |`,
    );
  }
  const scaling: string[] = [];
  for (const cell of new Set(results.filter((r) => r.workload === 'L').map((r) => String(r.cell)))) {
    const rows = results.filter((r) => r.workload === 'L' && r.cell === cell);
    const mine = rows.filter((r) => r.path === 'fused').sort((a, b) => Number(a.threads) - Number(b.threads));
    const torch = rows.filter((r) => r.system).sort((a, b) => Number(a.threads) - Number(b.threads));
    const line = (name: string, rs: Row[]) =>
      `| ${cell} | ${name} | ${rs.map((x) => `${spread(x)} [${String(x.threads)}t]`).join(' / ')} | ${rs.length === 2 ? `${(rs[1].stepsPerSec / rs[0].stepsPerSec).toFixed(2)}×` : '—'} |`;
    if (mine.length) scaling.push(line(`cellstack fused (native)${mine[0].gflops ? `, ${rate(mine[1] ?? mine[0])} GFLOP/s` : ''}`, mine));
    for (const system of new Set(torch.map((r) => String(r.system)))) scaling.push(line(`PyTorch ${system}`, torch.filter((r) => r.system === system)));
  }
  if (scaling.length) {
    scaling.unshift('', 'T 100, batch 128, 2 layers of 512 (training steps/s, 1 thread / every core):', '', '| cell | system | steps/s | speed-up |', '|---|---|---:|---:|');
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
  const tried = [...new Set(results.flatMap((r) => (r.system ? [Number(r.threads), ...((r.otherThreads as { threads: number }[] | undefined) ?? []).map((o) => o.threads)] : [])))].sort();
  const torchNote = t ? `PyTorch ${String(t.torch)} via ${py ?? 'python3'}, BLAS: ${String(t.blas).split(' via ')[0]}, at its fastest of ${tried.join(', ')} thread(s) per cell ([Nt])` : 'PyTorch: not importable here, its columns are empty';
  const isa = results.find((r) => r.native && r.native !== 'failed')?.native;
  const nativeNote = isa ? `native addon: ${String(isa)}` : 'native addon: not built here, its column is empty';
  const heads = new Set(results.filter((r) => r.path === 'fused').map((r) => r.head ?? 'tf'));
  const headNote = `dense head + cross-entropy: ${[...heads].map((h) => (h === 'fused' ? 'one op each on the wasm heap' : "tf's ops")).join(' / ') || 'not run'}`;
  return [
    `Machine: ${machine}; tfjs 4.22 wasm backend (1 thread); ${nativeNote}${peak ? ` (its matmul on one thread: ${peak.large} GFLOP/s at [256,256]·[256,512], ${peak.w1} at W1's [32,128]·[128,512])` : ''}; ${headNote}; ${torchNote}. ` +
      `Medians of ${runs} interleaved processes (min–max in brackets); training steps (W1, W2) or forward passes (W3) per second; GFLOP/s: ` +
      `the step's matrix products over its whole time (median over its processes of the % of the addon's best one-thread rate × threads, that rate measured in the same process right after its timed steps). ✓/✗: the target (≥ 1.2× the loop cell in training, ≥ 1.0× in inference and vs nn modules).`,
    '',
    '| workload | cell | generic | fused (wasm) | fused (native) [threads] | GFLOP/s | PyTorch loop cell [threads] | fused/loop | PyTorch nn module [threads] | fused/nn |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...table,
    ...scaling,
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
  const peak = nativeKernels().available ? addonPeak() : undefined;
  if (peak) emit({ workload: 'peak', cell: 'matmul', stepsPerSec: NaN, peakGflops: peak });
  const torchThreads = args['torch-threads'] ? args['torch-threads'].split(',').map(Number) : [...new Set([1, os.availableParallelism()])];
  for (const workload of args.workloads!.split(',')) {
    for (const cell of args.cells!.split(',')) {
      // Interleaved: run i of every path and of PyTorch at every thread count before run i + 1,
      // so load that comes and goes on a shared machine falls on all sides alike.
      const kinds = (['generic', 'fused', 'native'] as const).filter(included);
      const mine = new Map<Path, Row[]>(kinds.map((k) => [k, []]));
      const theirs: Row[] = [];
      let torchOk = py !== undefined;
      for (let i = 0; i < runs; i++) {
        for (const kind of kinds) mine.get(kind)!.push(oursOnce(cell, workload, kind));
        for (const t of torchThreads) {
          if (!torchOk) break;
          try {
            theirs.push(...pytorchOnce(py!, cell, workload, ['--threads', String(t)]));
          } catch {
            console.error(`suite: no PyTorch counterpart of ${cell} (${workload})`);
            torchOk = false;
          }
        }
      }
      for (const kind of kinds) emit(medianRow(mine.get(kind)!));
      if (torchOk && theirs.length > 0) fastestTorch(theirs).forEach(emit);
    }
  }
  if (args.scaling) {
    // Workload L (T 100, batch 128, 2 layers of 512) on 1 thread and on every core, interleaved.
    const all = os.availableParallelism();
    for (const cell of args.scaling.split(',')) {
      const rows = new Map<number, Row[]>([[1, []], [all, []]]);
      const short = ['--steps', '2', '--warmup', '1']; // seconds a step
      for (let i = 0; i < runs; i++) for (const t of rows.keys()) rows.get(t)!.push(oursOnce(cell, 'L', 'native', short, t));
      for (const r of rows.values()) emit(medianRow(r));
      if (py) for (const t of [1, all]) pytorch(py, cell, 'L', [...short, '--threads', String(t)]).forEach(emit);
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
