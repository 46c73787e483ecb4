import { promises as fs } from 'node:fs';
import { renderSvg, writeChart } from '@cellstack/viz';
import { unitMeans, type LayerSignal } from './probe.js';

type Spec = Parameters<typeof renderSvg>[0];

/**
 * The UR paper's Figure 4 as a vega-lite spec: a histogram, per layer, of each unit's
 * signal averaged over time and batch.
 */
export function signalHistogramSpec(signals: LayerSignal[], title: string): Spec {
  const values = signals.flatMap((s, i) => unitMeans(s.values).map((v) => ({ layer: `layer ${i + 1} (${s.cell} ${s.layer})`, value: v })));
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
        x: { field: 'value', type: 'quantitative', bin: { maxbins: 20 }, title: `${signals[0]?.signal ?? 'signal'}, mean over time and batch` },
        y: { aggregate: 'count', type: 'quantitative', title: 'units' },
      },
    },
  } as unknown as Spec;
}

/** Write `<base>.svg`, `<base>.png` and `<base>.json` (each layer's per-unit means). */
export async function writeSignalHistogram(base: string, signals: LayerSignal[], title: string, extra: Record<string, unknown> = {}): Promise<{ svg: string; png: string; json: string }> {
  const files = await writeChart(base, signalHistogramSpec(signals, title));
  const json = `${base}.json`;
  const layers = signals.map((s) => ({ layer: s.layer, cell: s.cell, signal: s.signal, unitMeans: unitMeans(s.values) }));
  await fs.writeFile(json, `${JSON.stringify({ ...extra, layers }, null, 1)}\n`);
  return { ...files, json };
}
