/**
 * Traced kernels (issue 23) against hand-written ones and the step loop: for each cell × workload,
 * separate processes of tools/bench/bench.ts alternating between the paths (so load that comes and goes
 * falls on all alike); prints every JSON line, then a markdown table of medians, with each pair's ratio
 * (run i of one path against run i of the other) and the median of those ratios; for W1/W2 the same for CPU
 * time per step (steadier on a loaded machine).
 *
 *   npx tsx --conditions=@cellstack/source tools/bench/traced.ts [--cells STAR,GRU] [--workloads W1,W2]
 *       [--runs 3] [--steps 5] [--warmup 3] [--plugin examples/plugin-mgu/src/index.ts --plugin-cells MGU]
 *       [--options '{"RRU": {"dropoutMask": "sequence"}}']
 *
 * Paths: `hand-written` (CELLSTACK_KERNELS=hand-written, cells that have one), `traced` (CELLSTACK_KERNELS=traced), and for plugin cells
 * (no hand-written kernel) `step loop` (CELLSTACK_FUSED=0). Workload M reads peak RSS instead of steps/s.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliArgs } from './args.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const USAGE =
  'usage: npx tsx --conditions=@cellstack/source tools/bench/traced.ts [--cells STAR,GRU] [--workloads W1,W2] [--runs 3] [--steps 5] [--warmup 3] [--plugin file --plugin-cells MGU] [--options JSON by cell]';
const args = cliArgs('traced', USAGE, {
  options: {
    help: { type: 'boolean', default: false },
    cells: { type: 'string', default: 'STAR,GRU,LSTM,NRU,RRU,DMU,URLSTM' },
    workloads: { type: 'string', default: 'W1,W2' },
    runs: { type: 'string', default: '3' },
    steps: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '3' },
    plugin: { type: 'string' },
    'plugin-cells': { type: 'string', default: '' },
    // Cell options by cell, e.g. '{"RRU": {"dropoutMask": "sequence"}}' (default: each cell's defaults).
    options: { type: 'string', default: '{}' },
  },
});

type Row = { stepsPerSec: number; peakRssMiB: number; cpuMsPerStep: number; kernel: string };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pluginCells = args['plugin-cells'].split(',').filter(Boolean);
const PATHS: Record<string, Record<string, string>> = { 'hand-written': { CELLSTACK_KERNELS: 'hand-written' }, traced: { CELLSTACK_KERNELS: 'traced' }, 'step loop': { CELLSTACK_FUSED: '0' } };

function bench(cell: string, workload: string, env: Record<string, string>): Row {
  const memory = workload === 'M';
  const flags = ['--workload', workload, '--cell', cell, '--steps', memory ? '1' : args.steps, '--warmup', memory ? '0' : args.warmup];
  if (args.plugin) flags.push('--plugin', args.plugin);
  const options = (JSON.parse(args.options) as Record<string, unknown>)[cell];
  if (options) flags.push('--options', JSON.stringify(options));
  const out = execFileSync(process.execPath, ['--conditions=@cellstack/source', '--import', 'tsx', path.join(root, 'tools/bench/bench.ts'), ...flags], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  const line = out.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (!line) throw new Error(`${cell} ${workload}: no JSON line in ${out.slice(-400)}`);
  console.log(line);
  return JSON.parse(line) as Row;
}

const table: string[] = ['| cell | workload | path | runs | median | ratio per pair (median) | CPU ms per step (median) | CPU ratio per pair (median) |', '|---|---|---|---|---:|---|---:|---|'];
for (const workload of args.workloads.split(',')) {
  const memory = workload === 'M';
  const value = (r: Row) => (memory ? r.peakRssMiB : r.stepsPerSec);
  for (const cell of args.cells.split(',')) {
    const paths = pluginCells.includes(cell) ? ['traced', 'step loop'] : ['traced', 'hand-written'];
    const rows: Record<string, Row[]> = Object.fromEntries(paths.map((p) => [p, []]));
    for (let i = 0; i < Number(args.runs); i++) for (const p of paths) rows[p].push(bench(cell, workload, PATHS[p]));
    const [a, b] = paths;
    const ratios = rows[a].map((r, i) => value(r) / value(rows[b][i]));
    const fmt = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
    // What ran, where it is not the path asked for (e.g. a step that cannot be traced: its reason).
    const ran = (p: string) => [...new Set(rows[p].map((r) => r.kernel).filter((k) => k !== p && !(p === 'step loop' && k.startsWith(p))))].map((k) => ` (ran: ${k})`).join('');
    // CPU time per step: the other path's over the traced one's, so above 1 means traced used less.
    const cpuRatios = rows[a].map((r, i) => rows[b][i].cpuMsPerStep / r.cpuMsPerStep);
    const cpu = (p: string) => (memory ? '' : median(rows[p].map((r) => r.cpuMsPerStep)).toFixed(1));
    const cpuCell = (p: string) => (memory || p !== a ? '' : `${b} / ${a}: ${fmt(cpuRatios)} (${median(cpuRatios).toFixed(2)}×)`);
    for (const p of paths)
      table.push(`| ${cell} | ${workload} | ${p}${ran(p)} | ${fmt(rows[p].map(value))} | ${median(rows[p].map(value)).toFixed(2)} | ${p === a ? `${a} / ${b}: ${fmt(ratios)} (${median(ratios).toFixed(2)}×)` : ''} | ${cpu(p)} | ${cpuCell(p)} |`);
  }
}
console.log(`\nW1, W2: training steps/s; M: peak RSS in MiB (lower is better)\n${table.join('\n')}`);
