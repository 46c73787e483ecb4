import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { lineSpec, renderSvg, writeChart } from '@cellstack/viz';

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
