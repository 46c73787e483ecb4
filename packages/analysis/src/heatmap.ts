import { promises as fs } from 'node:fs';
import { renderSvg, writeChart } from '@cellstack/viz';
import type { GradFlow } from './lattice.js';

type Spec = Parameters<typeof renderSvg>[0];

/**
 * Figure 2 of the STAR paper as a vega-lite spec: one rect heatmap per loss (final output
 * only, all outputs), layers up the y axis (layer 1 at the bottom), steps along x, the
 * mean gradient magnitude on a log colour scale (cells whose gradient underflowed to 0 are blank).
 */
export function gradFlowSpec(g: GradFlow, title = `Gradient magnitude ‖∂L/∂h_t^l‖, ${g.cells.join(', ')}`): Spec {
  const loss = { final: 'loss on the final output', all: 'loss on all outputs' };
  const values = (['final', 'all'] as const).flatMap((on) => g[on].flatMap((row, l) => row.map((v, t) => ({ loss: loss[on], layer: l + 1, step: t + 1, magnitude: v }))));
  const every = Math.max(1, Math.ceil(g.time / 10));
  const ticks = Array.from({ length: g.time }, (_, t) => t + 1).filter((t) => t === 1 || t % every === 0);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    background: 'white',
    data: { values },
    // A log scale cannot place 0 (a gradient that underflowed float32): such cells stay blank.
    transform: [{ filter: 'datum.magnitude > 0' }],
    facet: { row: { field: 'loss', type: 'nominal', title: null, sort: [loss.final, loss.all] } },
    spec: {
      width: Math.min(640, Math.max(160, 6 * g.time)),
      height: Math.max(80, 22 * g.layers),
      mark: 'rect',
      encoding: {
        x: { field: 'step', type: 'ordinal', title: 'time step t', axis: { values: ticks, labelAngle: 0 } },
        y: { field: 'layer', type: 'ordinal', title: 'layer l', sort: 'descending' },
        color: { field: 'magnitude', type: 'quantitative', scale: { type: 'log', scheme: 'viridis' }, title: 'mean ‖g‖', legend: { format: '.2~g' } },
        tooltip: [{ field: 'layer' }, { field: 'step' }, { field: 'magnitude', format: '.3g' }],
      },
    },
    resolve: { scale: { color: 'independent' } },
  } as unknown as Spec;
}

/** Write `<base>.svg`, `<base>.png` and `<base>.json` (the numbers). */
export async function writeGradFlow(base: string, g: GradFlow, title?: string): Promise<{ svg: string; png: string; json: string }> {
  const files = await writeChart(base, gradFlowSpec(g, title));
  const json = `${base}.json`;
  await fs.writeFile(json, `${JSON.stringify(g, null, 1)}\n`);
  return { ...files, json };
}
