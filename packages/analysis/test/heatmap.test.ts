import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimpleRNN } from '@cellstack/core';
import { gradFlow, writeGradFlow } from '../src/index.js';

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
