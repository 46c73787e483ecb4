import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { focusRange, lineSpec, renderSvg, writeChart } from '@cellstack/viz';

const chart = {
  title: 'copy task',
  xLabel: 'step',
  yLabel: 'loss',
  series: [
    { name: 'STAR', points: [{ x: 0, y: 2, lo: 1.8, hi: 2.2 }, { x: 10, y: 1, lo: 0.9, hi: 1.1 }] },
    { name: 'LSTM', points: [{ x: 0, y: 2 }, { x: 10, y: 1.9 }] },
  ],
  rules: [{ y: 0.17, label: 'memoryless baseline' }],
};

describe('charts', () => {
  it('renders series, spread bands and baseline rules to SVG', async () => {
    const svg = await renderSvg(lineSpec(chart));
    expect(svg.startsWith('<svg')).toBe(true);
    for (const text of ['copy task', 'STAR', 'LSTM', 'memoryless baseline', 'step', 'loss']) expect(svg).toContain(text);
  });

  it('writes an SVG and a valid PNG side by side', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cellstack-viz-'));
    const out = await writeChart(path.join(dir, 'loss'), lineSpec(chart));
    expect((await readFile(out.svg, 'utf8')).startsWith('<svg')).toBe(true);
    const png = await readFile(out.png);
    expect(Array.from(png.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(png.readUInt32BE(16)).toBeGreaterThan(500); // width of the 2× render
  });
});

describe('focusRange', () => {
  const copy = [
    { name: 'NRU', points: [{ x: 1, y: 2.3 }, { x: 50, y: 0.2 }, { x: 100, y: 0.12, lo: 0.11, hi: 0.13 }] },
    { name: 'LSTM', points: [{ x: 1, y: 2.3 }, { x: 50, y: 0.18 }, { x: 100, y: 0.17 }] },
  ];

  it('cuts the initial transient and keeps the curves and the baseline in view', () => {
    const [lo, hi] = focusRange(copy, [{ y: 0.173 }]);
    // values after 5 % of the steps span 0.11 .. 0.2; padded by 5 % of that span
    expect(lo).toBeCloseTo(0.11 - 0.0045, 6);
    expect(hi).toBeCloseTo(0.2 + 0.0045, 6);
  });

  it('pads in log space on a log axis and includes a baseline above every curve', () => {
    const [lo, hi] = focusRange(copy, [{ y: 0.5 }], { log: true });
    const span = Math.log(0.5) - Math.log(0.11);
    expect(Math.log(lo)).toBeCloseTo(Math.log(0.11) - 0.05 * span, 6);
    expect(Math.log(hi)).toBeCloseTo(Math.log(0.5) + 0.05 * span, 6);
  });

  it('puts the domain on the y scale and clips the marks', () => {
    const spec = JSON.stringify(lineSpec({ ...chart, logY: true, yDomain: [0.1, 0.3] }));
    expect(spec).toContain('"domain":[0.1,0.3]');
    expect(spec).toContain('"type":"log"');
    expect(spec).toContain('"clip":true');
  });
});
