/**
 * Charts for benchmarks and paper checks: a vega-lite spec rendered headless to SVG
 * (vega) and PNG (resvg). No hand-drawn SVG.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import * as vl from 'vega-lite';

export interface Series {
  name: string;
  points: Array<{ x: number; y: number; lo?: number; hi?: number }>;
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Horizontal reference lines, e.g. the task's memoryless baseline. */
  rules?: Array<{ y: number; label: string }>;
  logY?: boolean;
  /** Fixed y-axis range; marks outside it are clipped (see focusRange). */
  yDomain?: [number, number];
}

/**
 * The y-range where curves differ: from the lowest value to the highest value reached
 * after the first `skip` fraction of the x-range (the initial transient is cut off),
 * always including the reference lines, padded 5 % (of the log range with `log`).
 */
export function focusRange(series: Series[], rules: Array<{ y: number }> = [], { log = false, skip = 0.05 } = {}): [number, number] {
  const points = series.flatMap((s) => s.points);
  const xs = points.map((p) => p.x);
  const x0 = Math.min(...xs) + skip * (Math.max(...xs) - Math.min(...xs));
  const late = points.filter((p) => p.x >= x0);
  const values = [...late.flatMap((p) => [p.y, p.lo ?? p.y, p.hi ?? p.y]), ...rules.map((r) => r.y)];
  const fwd = (v: number) => (log ? Math.log(v) : v);
  const back = (v: number) => (log ? Math.exp(v) : v);
  const lo = Math.min(...values.map(fwd));
  const hi = Math.max(...values.map(fwd));
  const pad = 0.05 * (hi - lo || Math.abs(lo) || 1);
  return [back(lo - pad), back(hi + pad)];
}

/** A vega-lite spec for median lines with an optional spread band per series. */
export function lineSpec(c: LineChart): vl.TopLevelSpec {
  const rows = c.series.flatMap((s) => s.points.map((p) => ({ series: s.name, ...p })));
  const hasBand = rows.some((r) => r.lo !== undefined);
  const domain = c.yDomain ? { domain: c.yDomain, nice: false } : {};
  const y = { field: 'y', type: 'quantitative', title: c.yLabel, scale: c.logY ? { type: 'log', ...domain } : { zero: false, ...domain } } as const;
  const clip = c.yDomain !== undefined;
  const layers: unknown[] = [];
  if (hasBand) {
    layers.push({ mark: { type: 'area', opacity: 0.2, clip }, encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'lo', type: 'quantitative', scale: y.scale }, y2: { field: 'hi' }, color: { field: 'series', type: 'nominal' } } });
  }
  layers.push({ mark: { type: 'line', strokeWidth: 2, clip }, encoding: { x: { field: 'x', type: 'quantitative', title: c.xLabel }, y, color: { field: 'series', type: 'nominal', title: null } } });
  const spec: Record<string, unknown> = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: c.title,
    width: 560,
    height: 320,
    background: 'white',
    layer: [{ data: { values: rows }, layer: layers }],
  };
  if (c.rules?.length) {
    (spec.layer as unknown[]).push({
      data: { values: c.rules },
      layer: [
        { mark: { type: 'rule', strokeDash: [6, 4], color: '#555' }, encoding: { y: { field: 'y', type: 'quantitative' } } },
        { mark: { type: 'text', align: 'left', dx: 4, dy: -6, color: '#555' }, encoding: { y: { field: 'y', type: 'quantitative' }, x: { value: 0 }, text: { field: 'label' } } },
      ],
    });
  }
  return spec as unknown as vl.TopLevelSpec;
}

/** Render any vega-lite spec to SVG text. */
export async function renderSvg(spec: vl.TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

/** SVG → PNG bytes. */
export function svgToPng(svg: string): Uint8Array {
  return new Resvg(svg, { background: 'white', fitTo: { mode: 'zoom', value: 2 }, font: { loadSystemFonts: true } }).render().asPng();
}

/** Write `<base>.svg` and `<base>.png` (atomically: temp file, then rename). */
export async function writeChart(base: string, spec: vl.TopLevelSpec): Promise<{ svg: string; png: string }> {
  await fs.mkdir(path.dirname(base), { recursive: true });
  const svg = await renderSvg(spec);
  const out = { svg: `${base}.svg`, png: `${base}.png` };
  await writeAtomic(out.svg, svg);
  await writeAtomic(out.png, svgToPng(svg));
  return out;
}

async function writeAtomic(file: string, data: string | Uint8Array) {
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, data);
  await fs.rename(tmp, file);
}
