import { writeFileAtomic } from '@cellstack/core';
import type { Series } from '@cellstack/viz';
import { median, smooth, smoothingWindow } from './charts.js';
import { RunFolder } from './run-folder.js';
import type { GridAxis, GridValue, SweepRun } from './sweep-grid.js';
import type { RunRecord } from './train.js';

/** What a sweep knows before it runs: stored in the output folder and, for a queue, in Redis. */
export interface SweepPlan {
  id: string;
  createdAt: string;
  out: string;
  specs: string[];
  axes: GridAxis[];
  seeds: number;
  taskText: string;
  /** Loss for "steps to threshold" and "trained"; null: half of each run's memoryless baseline. */
  threshold: number | null;
  runs: SweepRun[];
}

/** One finished (or failed) run as the results see it. */
export interface RunResult {
  name: string;
  spec: string;
  values: Record<string, GridValue>;
  seed: number;
  status: 'completed' | 'diverged' | 'failed';
  error?: string;
  params?: number;
  finalLoss?: number;
  validation?: RunRecord['validation'];
  stepsToThreshold?: number | null;
  stepsPerSecond?: number;
  /** Where the full run folder is (a worker's store, or here). */
  folder?: string;
}

export interface GroupResult {
  spec: string;
  values: Record<string, GridValue>;
  finalLoss: { median: number; min: number; max: number } | null;
  trained: number;
  seeds: number;
  failed: number;
  stepsToThreshold: number | null;
  validationLoss: number | null;
}

const fmt = (v: number) => (Math.abs(v) >= 0.01 || v === 0 ? v.toFixed(4) : v.toExponential(2));

/** First step where the smoothed loss is below the threshold (as `compare`), or null. */
export function stepsTo(losses: number[], threshold: number): number | null {
  const k = smooth(losses, smoothingWindow(losses.length)).findIndex((v) => v < threshold);
  return k < 0 ? null : k + 1;
}

export const thresholdOf = (plan: SweepPlan, run: SweepRun) => plan.threshold ?? run.baseline / 2;

/** A run's result from its (collected) run folder: run.json and metrics.jsonl. */
export async function readResult(plan: SweepPlan, run: SweepRun, dir: string, folder = dir): Promise<RunResult> {
  const base = { name: run.name, spec: run.spec, values: run.values, seed: run.seed, folder };
  const f = new RunFolder(dir);
  const record = await f.readJson<RunRecord>('run.json');
  const losses = (await f.readMetrics()).map((l) => l.loss);
  if (record.status !== 'completed') return { ...base, status: record.status === 'diverged' ? 'diverged' : 'failed', error: `run ${record.status} at step ${record.steps}`, params: record.params };
  return { ...base, status: 'completed', params: record.params, finalLoss: record.finalLoss, validation: record.validation, stepsToThreshold: stepsTo(losses, thresholdOf(plan, run)), stepsPerSecond: record.stepsPerSecond };
}

/** Seeds of one grid point together: median and spread of the final loss, how many trained. */
export function groupResults(plan: SweepPlan, results: RunResult[]): GroupResult[] {
  const groups = new Map<string, RunResult[]>();
  for (const r of results) {
    const key = JSON.stringify([r.spec, r.values]);
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const rows = [...groups.values()].map((rs): GroupResult => {
    const ok = rs.filter((r) => r.status === 'completed' && Number.isFinite(r.finalLoss));
    const finals = ok.map((r) => r.finalLoss!).sort((a, b) => a - b);
    const reached = ok.map((r) => r.stepsToThreshold).filter((s): s is number => typeof s === 'number');
    return {
      spec: rs[0].spec,
      values: rs[0].values,
      finalLoss: finals.length ? { median: median(finals), min: finals[0], max: finals[finals.length - 1] } : null,
      trained: reached.length,
      seeds: rs.length,
      failed: rs.length - ok.length,
      stepsToThreshold: reached.length ? median(reached) : null,
      validationLoss: ok.length ? median(ok.map((r) => r.validation!.loss)) : null,
    };
  });
  // Best first; grid points where every seed failed last.
  return rows.sort((a, b) => (a.finalLoss?.median ?? Infinity) - (b.finalLoss?.median ?? Infinity));
}

/** sweep.md: the table, best median final loss first. */
function table(plan: SweepPlan, groups: GroupResult[], threshold: string): string {
  const keys = plan.axes.map((a) => a.key);
  const header = ['spec', ...keys, 'final loss (median)', '[min, max] over seeds', `trained (< ${threshold})`, 'steps to threshold (median)', 'val loss (median)'];
  const rows = groups.map((g) => [
    g.spec,
    ...keys.map((k) => String(g.values[k])),
    g.finalLoss ? fmt(g.finalLoss.median) : 'failed',
    g.finalLoss ? `[${fmt(g.finalLoss.min)}, ${fmt(g.finalLoss.max)}]` : '',
    `${g.trained}/${g.seeds}${g.failed ? ` (${g.failed} failed)` : ''}`,
    g.stepsToThreshold === null ? '—' : String(g.stepsToThreshold),
    g.validationLoss === null ? '' : fmt(g.validationLoss),
  ]);
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

const axisValues = (plan: SweepPlan, k: number, spec?: string) => {
  const v = plan.axes[k].values;
  return Array.isArray(v) ? v : spec ? v[spec] : Object.values(v).flat();
};

/** The heatmap for a 2-key grid (RRU Figure 2): colour log10 median final loss, text trained/seeds and steps. */
async function heatmap(base: string, plan: SweepPlan, groups: GroupResult[], threshold: string) {
  const { heatmapSpec, writeChart } = await import('@cellstack/viz');
  const [kx, ky] = plan.axes.map((a) => a.key);
  const perSpec = plan.axes.some((a) => !Array.isArray(a.values));
  const cells = groups.map((g) => ({
    panel: g.spec,
    x: String(g.values[kx]),
    y: String(g.values[ky]),
    value: g.finalLoss ? Math.log10(Math.max(g.finalLoss.median, 1e-6)) : null,
    label: plan.seeds > 1 ? `${g.trained}/${g.seeds}` : g.stepsToThreshold === null ? '✗' : String(g.stepsToThreshold),
    sublabel: plan.seeds > 1 ? (g.stepsToThreshold === null ? '' : `${g.stepsToThreshold} steps`) : g.finalLoss ? fmt(g.finalLoss.median) : 'failed',
  }));
  const text = plan.seeds > 1 ? `text: seeds that reached ${threshold} / seeds, median steps to reach it` : `text: steps to reach ${threshold} (✗ not reached), final loss`;
  return writeChart(
    base,
    heatmapSpec({
      title: `${plan.taskText}: ${kx} × ${ky}, ${plan.seeds} seed(s) per cell`,
      subtitle: `colour: log10 median final loss; ${text}`,
      xLabel: kx,
      yLabel: ky,
      colorLabel: 'log10 final loss',
      cells,
      xOrder: axisValues(plan, 0).map(String),
      yOrder: [...new Set(axisValues(plan, 1).map(String))].reverse(),
      independentY: perSpec,
    }),
  );
}

/** Lines with bands for a 1-key grid: median final loss over seeds against the value, min–max band. */
async function bands(base: string, plan: SweepPlan, groups: GroupResult[]) {
  const { lineSpec, writeChart } = await import('@cellstack/viz');
  const key = plan.axes[0].key;
  const numeric = groups.every((g) => typeof g.values[key] === 'number');
  const order = axisValues(plan, 0);
  const xs = order.map(Number).filter((v) => v > 0);
  const logX = numeric && xs.length === order.length && Math.max(...xs) / Math.min(...xs) >= 10;
  const series: Series[] = [...new Set(groups.map((g) => g.spec))].map((spec) => ({
    name: spec,
    points: groups
      .filter((g) => g.spec === spec && g.finalLoss)
      .map((g) => ({ x: numeric ? (g.values[key] as number) : order.indexOf(g.values[key]), y: g.finalLoss!.median, lo: g.finalLoss!.min, hi: g.finalLoss!.max }))
      .sort((a, b) => a.x - b.x),
  }));
  const spec = lineSpec({ title: `${plan.taskText}: final loss against ${key}, ${plan.seeds} seed(s)`, xLabel: numeric ? key : `${key} (${order.join(', ')})`, yLabel: 'final loss (median, min–max over seeds)', series, logY: true });
  if (logX) setLogX(spec);
  return writeChart(base, spec);
}

/** The x axis of a line spec on a log scale (a learning rate spans decades). */
function setLogX(spec: object) {
  const visit = (node: unknown) => {
    if (!node || typeof node !== 'object') return;
    const enc = (node as { encoding?: { x?: { scale?: unknown } } }).encoding;
    if (enc?.x) enc.x.scale = { type: 'log' };
    for (const child of (node as { layer?: unknown[] }).layer ?? []) visit(child);
  };
  visit(spec);
}

/** Write sweep.json, sweep.md and the chart; returns the table as text and the files written. */
export async function writeResults(plan: SweepPlan, results: RunResult[], wallSeconds: number) {
  const groups = groupResults(plan, results);
  const thresholds = [...new Set(plan.runs.map((r) => thresholdOf(plan, r)))];
  const threshold = thresholds.length === 1 ? fmt(thresholds[0]) : 'half the baseline';
  const out = new RunFolder(plan.out);
  await out.writeJson('sweep.json', { id: plan.id, task: plan.taskText, axes: plan.axes, seeds: plan.seeds, threshold: thresholds.length === 1 ? thresholds[0] : null, wallSeconds, groups, runs: results });
  const md = table(plan, groups, threshold);
  const failed = results.filter((r) => r.status !== 'completed');
  const notes = failed.map((r) => `- ${r.name}: ${r.status}${r.error ? ` (${r.error})` : ''}`);
  await writeFileAtomic(out.file('sweep.md'), `# Sweep ${plan.id}: ${plan.taskText}, ${plan.runs.length} runs\n\n${md}\n${notes.length ? `\nNot completed:\n\n${notes.join('\n')}\n` : ''}`);
  let chart: string | undefined;
  if (groups.some((g) => g.finalLoss)) {
    if (plan.axes.length === 2) chart = (await heatmap(out.file('sweep-heatmap'), plan, groups, threshold)).svg;
    else if (plan.axes.length === 1) chart = (await bands(out.file('sweep-lines'), plan, groups)).svg;
  }
  return { groups, md, chart, files: [out.file('sweep.json'), out.file('sweep.md'), ...(chart ? [chart] : [])] };
}
