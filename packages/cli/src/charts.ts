import type { Series } from '@cellstack/viz';
import type { MetricsLine } from './run-folder.js';

/** Moving average over `window` steps. */
export function smooth(values: number[], window: number): number[] {
  const out: number[] = [];
  let sum = 0;
  values.forEach((v, i) => {
    sum += v;
    if (i >= window) sum -= values[i - window];
    out.push(sum / Math.min(i + 1, window));
  });
  return out;
}

/** At most ~400 points per series, so charts of long runs stay light. */
export const thin = <T>(points: T[]): T[] => {
  const every = Math.max(1, Math.ceil(points.length / 400));
  return points.filter((_, i) => i % every === 0 || i === points.length - 1);
};

/**
 * Axis settings that make a loss chart readable: a log scale when every value is
 * positive, and the y-range where the curves differ (after the initial transient,
 * with the memoryless baseline always in view).
 */
export async function lossAxis(series: Series[], baseline: number): Promise<{ logY: boolean; yDomain: [number, number] }> {
  const { focusRange } = await import('@cellstack/viz');
  const logY = baseline > 0 && series.every((s) => s.points.every((p) => p.y > 0 && (p.lo ?? 1) > 0));
  return { logY, yDomain: focusRange(series, [{ y: baseline }], { log: logY }) };
}

const axisNote = (logY: boolean) => (logY ? ' (log scale)' : '');

export const smoothingWindow = (steps: number) => Math.max(1, Math.min(50, Math.round(steps / 25)));

/** The loss chart of one run: raw and smoothed loss, with the task's memoryless baseline. */
export async function writeLossChart(base: string, lines: MetricsLine[], baseline: number, title: string) {
  const { lineSpec, writeChart } = await import('@cellstack/viz');
  const w = smoothingWindow(lines.length);
  const s = smooth(lines.map((l) => l.loss), w);
  const series: Series[] = [
    { name: 'loss', points: thin(lines.map((l) => ({ x: l.step, y: l.loss }))) },
    ...(w > 1 ? [{ name: `loss (mean of ${w})`, points: thin(lines.map((l, i) => ({ x: l.step, y: s[i] }))) }] : []),
  ];
  // The range follows the smoothed curve (the last series); raw spikes are clipped.
  const axis = await lossAxis(series.slice(-1), baseline);
  const yLabel = `training loss${axisNote(axis.logY)}`;
  return writeChart(base, lineSpec({ title, xLabel: 'step', yLabel, series, ...axis, rules: [{ y: baseline, label: `memoryless baseline ${baseline.toFixed(4)}` }] }));
}

/** The compare chart: per spec, the median over seeds and the min–max band, smoothed. */
export async function writeCompareChart(base: string, runs: Array<{ name: string; seeds: number[][] }>, baseline: number, title: string) {
  const { lineSpec, writeChart } = await import('@cellstack/viz');
  const series: Series[] = runs.map(({ name, seeds }) => {
    const steps = Math.min(...seeds.map((s) => s.length));
    const w = smoothingWindow(steps);
    const sm = seeds.map((s) => smooth(s.slice(0, steps), w));
    const points = Array.from({ length: steps }, (_, i) => {
      const v = sm.map((s) => s[i]).sort((a, b) => a - b);
      return { x: i + 1, y: median(v), lo: v[0], hi: v[v.length - 1] };
    });
    return { name, points: thin(points) };
  });
  const axis = await lossAxis(series, baseline);
  const yLabel = `training loss${axisNote(axis.logY)}, median and min–max over seeds`;
  return writeChart(base, lineSpec({ title, xLabel: 'step', yLabel, series, ...axis, rules: [{ y: baseline, label: `memoryless baseline ${baseline.toFixed(4)}` }] }));
}

export function median(sorted: number[]): number {
  const s = [...sorted].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
