import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimpleRNN } from '@cellstack/core';
import { gradFlow, memoryChange, writeGradFlow, writeMemoryChange, writeSignalHistogram, type LayerSignal } from '../src/index.js';

describe('gradient-flow heatmap', () => {
  it('writes the two heatmaps as SVG and PNG and the numbers as JSON', async () => {
    const g = gradFlow({ layers: [1, 2].map(() => ({ plugin: SimpleRNN, options: { units: 3 } })), inputSize: 2, time: 4, runs: 1, batch: 2 });
    const base = join(mkdtempSync(join(tmpdir(), 'cellstack-analysis-')), 'gradflow');
    const files = await writeGradFlow(base, g);
    const svg = readFileSync(files.svg, 'utf8');
    expect(svg).toMatch(/^<svg/);
    // One rect mark per loss, each with a cell per layer and step (2 × 4).
    const heatmaps = svg.match(/<g class="mark-rect role-mark[^>]*>(.*?)<\/g>/g) ?? [];
    expect(heatmaps.map((h) => (h.match(/<path/g) ?? []).length)).toEqual([8, 8]);
    expect(svg).toContain('loss on the final output');
    expect(svg).toContain('loss on all outputs');
    expect(Array.from(readFileSync(files.png).subarray(0, 4))).toEqual([0x89, 0x50, 0x4e, 0x47]);
    const json = JSON.parse(readFileSync(files.json, 'utf8'));
    expect(json.final).toEqual(g.final);
    expect(json.all).toEqual(g.all);
  });
});

describe('probe charts', () => {
  // 2 steps × 1 sequence × 3 units, a state signal starting from zeros.
  const signal: LayerSignal = { layer: 'nru_0', cell: 'NRU', signal: 'm', values: [[[0.5, -1, 0]], [[0.25, 1, 0]]], state: true, initial: [[0, 0, 0]] };

  it('writes the memory-change image (units × steps) as SVG and PNG and the matrix as JSON', async () => {
    const base = join(mkdtempSync(join(tmpdir(), 'cellstack-analysis-')), 'change');
    const change = memoryChange(signal);
    expect(change.change).toEqual([[0.5, 0.25], [1, 2], [0, 0]]);
    const files = await writeMemoryChange(base, [change], ['change of m', 'second line'], { task: 'copy' });
    const svg = readFileSync(files.svg, 'utf8');
    expect(svg).toMatch(/^<svg/);
    // One rect per unit and step (3 × 2), unchanged units included.
    const images = svg.match(/<g class="mark-rect role-mark[^>]*>(.*?)<\/g>/g) ?? [];
    expect(images.map((h) => (h.match(/<path/g) ?? []).length)).toEqual([6]);
    expect(svg).toContain('change of m');
    expect(svg).toContain('second line');
    expect(svg).toContain('unit of m');
    expect(Array.from(readFileSync(files.png).subarray(0, 4))).toEqual([0x89, 0x50, 0x4e, 0x47]);
    const json = JSON.parse(readFileSync(files.json, 'utf8'));
    expect(json.task).toBe('copy');
    expect(json.layers).toEqual([change]);
  });

  it('writes the per-unit histogram (UR Figure 4) as SVG, PNG and JSON', async () => {
    const base = join(mkdtempSync(join(tmpdir(), 'cellstack-analysis-')), 'hist');
    const files = await writeSignalHistogram(base, [signal], 'm');
    expect(readFileSync(files.svg, 'utf8')).toMatch(/^<svg/);
    expect(Array.from(readFileSync(files.png).subarray(0, 4))).toEqual([0x89, 0x50, 0x4e, 0x47]);
    expect(JSON.parse(readFileSync(files.json, 'utf8')).layers).toEqual([{ layer: 'nru_0', cell: 'NRU', signal: 'm', unitMeans: [0.375, 0, 0] }]);
  });
});
