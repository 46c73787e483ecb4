import type * as vl from 'vega-lite';

/** One cell of a heatmap: its panel, column and row, colour value and text. */
export interface HeatCell {
  /** The panel (e.g. the spec); one panel per distinct value, side by side. */
  panel: string;
  x: string;
  y: string;
  /** Colour; null leaves the cell blank (e.g. every run failed). */
  value: number | null;
  /** Large text in the cell (e.g. the fraction of seeds that trained). */
  label?: string;
  /** Small text under it (e.g. a layer size). */
  sublabel?: string;
}

export interface Heatmap {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  colorLabel: string;
  cells: HeatCell[];
  /** Column and row order (default: first appearance); rows are drawn top to bottom. */
  xOrder?: string[];
  yOrder?: string[];
  /** Low values light or dark (default: low is dark, as for a loss). */
  lowIsDark?: boolean;
  /** Each panel its own row labels (when rows mean different values per panel). */
  independentY?: boolean;
}

/**
 * A vega-lite spec for a panelled heatmap, as the RRU paper's Figure 2: colour for a value
 * (log-scaled by the caller when it spans decades), text for counts.
 */
export function heatmapSpec(h: Heatmap): vl.TopLevelSpec {
  const order = (pick: (c: HeatCell) => string, given?: string[]) => given ?? [...new Set(h.cells.map(pick))];
  const values = h.cells.map((c) => ({ ...c, value: c.value === null || !Number.isFinite(c.value) ? null : c.value, label: c.label ?? '', sublabel: c.sublabel ?? '' }));
  const finite = values.map((c) => c.value).filter((v): v is number => v !== null);
  const mid = finite.length ? (Math.min(...finite) + Math.max(...finite)) / 2 : 0;
  const dark = h.lowIsDark !== false ? `datum.value !== null && datum.value < ${mid}` : `datum.value !== null && datum.value > ${mid}`;
  const textColor = { condition: { test: dark, value: 'white' }, value: 'black' };
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: h.subtitle ? { text: h.title, subtitle: h.subtitle } : h.title,
    background: 'white',
    data: { values },
    facet: { column: { field: 'panel', type: 'nominal', title: null, sort: order((c) => c.panel) } },
    ...(h.independentY ? { resolve: { scale: { y: 'independent' } } } : {}),
    spec: {
      // Fixed sizes (not steps): vega-lite cannot size steps of independent row scales.
      width: 56 * order((c) => c.x, h.xOrder).length,
      height: 40 * Math.max(...[...new Set(h.cells.map((c) => c.panel))].map((p) => new Set(h.cells.filter((c) => c.panel === p).map((c) => c.y)).size)),
      encoding: {
        x: { field: 'x', type: 'ordinal', title: h.xLabel, sort: order((c) => c.x, h.xOrder), axis: { labelAngle: 0 } },
        y: { field: 'y', type: 'ordinal', title: h.yLabel, sort: order((c) => c.y, h.yOrder) },
      },
      layer: [
        { mark: 'rect', encoding: { color: { field: 'value', type: 'quantitative', title: h.colorLabel, scale: { scheme: 'yellowgreenblue', reverse: h.lowIsDark !== false } } } },
        { mark: { type: 'text', fontSize: 12, dy: -5 }, encoding: { text: { field: 'label' }, color: textColor } },
        { mark: { type: 'text', fontSize: 9, dy: 9 }, encoding: { text: { field: 'sublabel' }, color: textColor } },
      ],
    },
  };
  return spec as unknown as vl.TopLevelSpec;
}
