import { promises as fs } from 'node:fs';
import { renderSvg, writeChart } from '@cellstack/viz';
import { unitMeans, type LayerSignal, type MemoryChange } from './probe.js';

type Spec = Parameters<typeof renderSvg>[0];

/**
 * The UR paper's Figure 4 as a vega-lite spec: a histogram, per layer, of each unit's
 * signal averaged over time and batch. When every mean lies in [0, 1] (a gate), the bins
 * are twenty of width 0.05 over [0, 1], so that histograms before and after training compare.
 */
export function signalHistogramSpec(signals: LayerSignal[], title: string | string[]): Spec {
  const values = signals.flatMap((s, i) => unitMeans(s.values).map((v) => ({ layer: `layer ${i + 1} (${s.cell} ${s.layer})`, value: v })));
  const gate = values.length > 0 && values.every(({ value }) => value >= 0 && value <= 1);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    background: 'white',
    data: { values },
    facet: { row: { field: 'layer', type: 'nominal', title: null } },
    spec: {
      width: 480,
      height: 120,
      mark: 'bar',
      encoding: {
        x: {
          field: 'value',
          type: 'quantitative',
          bin: gate ? { extent: [0, 1], step: 0.05 } : { maxbins: 20 },
          ...(gate ? { scale: { domain: [0, 1] } } : {}),
          title: `${signals[0]?.signal ?? 'signal'}, mean over time and batch`,
        },
        y: { aggregate: 'count', type: 'quantitative', title: 'units' },
      },
    },
  } as unknown as Spec;
}

/** Write `<base>.svg`, `<base>.png` and `<base>.json` (each layer's per-unit means). */
export async function writeSignalHistogram(base: string, signals: LayerSignal[], title: string | string[], extra: Record<string, unknown> = {}): Promise<{ svg: string; png: string; json: string }> {
  const files = await writeChart(base, signalHistogramSpec(signals, title));
  const json = `${base}.json`;
  const layers = signals.map((s) => ({ layer: s.layer, cell: s.cell, signal: s.signal, unitMeans: unitMeans(s.values) }));
  await fs.writeFile(json, `${JSON.stringify({ ...extra, layers }, null, 1)}\n`);
  return { ...files, json };
}

/**
 * The NRU paper's Figure 6 as a vega-lite spec: for one sequence, |s_t − s_{t−1}| of every
 * memory unit (rows) at every step (columns), one heatmap per layer, on a square-root colour
 * scale from 0 (unit untouched at that step), so that small writes stay visible next to large ones. An array title is set as several lines.
 */
export function memoryChangeSpec(changes: MemoryChange[], title: string | string[]): Spec {
  const T = Math.max(0, ...changes.map((c) => c.firstStep - 1 + (c.change[0]?.length ?? 0)));
  const k = Math.max(1, ...changes.map((c) => c.change.length));
  const values = changes.flatMap((c, i) =>
    c.change.flatMap((row, unit) => row.map((v, s) => ({ layer: `layer ${i + 1} (${c.cell} ${c.layer})`, unit: unit + 1, step: c.firstStep + s, change: v }))),
  );
  const every = Math.max(1, Math.ceil(T / 12));
  const ticks = Array.from({ length: T }, (_, t) => t + 1).filter((t) => t === 1 || t % every === 0);
  const unitEvery = Math.max(1, Math.ceil(k / 8));
  const unitTicks = Array.from({ length: k }, (_, u) => u + 1).filter((u) => u === 1 || u % unitEvery === 0);
  const signal = changes[0]?.signal ?? 's';
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    background: 'white',
    data: { values },
    facet: { row: { field: 'layer', type: 'nominal', title: null } },
    spec: {
      width: Math.min(720, Math.max(200, 5 * T)),
      height: Math.min(480, Math.max(60, 6 * k)),
      // No per-rect aria labels: an image of k × T cells would carry k × T of them.
      mark: { type: 'rect', aria: false },
      encoding: {
        x: { field: 'step', type: 'ordinal', title: 'time step t', axis: { values: ticks, labelAngle: 0 } },
        y: { field: 'unit', type: 'ordinal', title: `unit of ${signal}`, axis: { values: unitTicks } },
        color: { field: 'change', type: 'quantitative', scale: { type: 'sqrt', scheme: 'viridis', zero: true }, title: `|${signal}_t − ${signal}_(t−1)|`, legend: { format: '.2~g' } },
      },
    },
    resolve: { scale: { color: 'independent', x: 'independent', y: 'independent' } },
  } as unknown as Spec;
}

/** Write `<base>.svg`, `<base>.png` and `<base>.json` (each layer's units × steps matrix). */
export async function writeMemoryChange(base: string, changes: MemoryChange[], title: string | string[], extra: Record<string, unknown> = {}): Promise<{ svg: string; png: string; json: string }> {
  const files = await writeChart(base, memoryChangeSpec(changes, title));
  const json = `${base}.json`;
  await fs.writeFile(json, `${JSON.stringify({ ...extra, layers: changes }, null, 1)}\n`);
  return { ...files, json };
}
