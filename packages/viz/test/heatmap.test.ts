import { describe, expect, it } from 'vitest';
import { heatmapSpec, renderSvg } from '@cellstack/viz';

describe('heatmapSpec', () => {
  it('draws one panel per spec with every cell, its text, and grey for a missing value', async () => {
    const cells = ['RRU', 'LSTM'].flatMap((panel) =>
      ['1e-3', '1e-2'].flatMap((x) => ['16', '64'].map((y) => ({ panel, x, y, value: panel === 'LSTM' && x === '1e-3' && y === '16' ? null : -1.5, label: `${panel[0]}${x}/${y}`, sublabel: 'n' }))),
    );
    const spec = heatmapSpec({ title: 'lr × units', subtitle: 'colour: log10 loss', xLabel: 'learning rate', yLabel: 'units', colorLabel: 'log10 loss', cells, yOrder: ['64', '16'] });
    const svg = await renderSvg(spec);
    for (const text of ['lr × units', 'colour: log10 loss', 'learning rate', 'RRU', 'LSTM', 'R1e-3/16', 'L1e-2/64']) expect(svg).toContain(text);
    // 7 coloured cells: the one without a value is left blank; rows in the given order (64 on top).
    expect(svg.match(/aria-roledescription="rect mark"/g)).toHaveLength(7);
    expect(svg).toMatch(/aria-label="learning rate: 1e-3; units: 64; log10 loss: −1.5" role="graphics-symbol" aria-roledescription="rect mark" d="M0,0h/);
    expect(svg).toMatch(/aria-label="learning rate: 1e-3; units: 16; log10 loss: −1.5" role="graphics-symbol" aria-roledescription="rect mark" d="M0,40h/);
  });

  it('rows may mean different values per panel (independent row scales)', async () => {
    const cells = [
      { panel: 'RRU', x: '0.01', y: '3', value: -2 },
      { panel: 'RRU', x: '0.01', y: '8', value: -1 },
      { panel: 'LSTM', x: '0.01', y: '4', value: -1 },
      { panel: 'LSTM', x: '0.01', y: '10', value: 0 },
    ];
    const svg = await renderSvg(heatmapSpec({ title: 't', xLabel: 'lr', yLabel: 'budget', colorLabel: 'c', cells, independentY: true }));
    for (const y of ['3', '8', '4', '10']) expect(svg).toContain(`lr: 0.01; budget: ${y}; c:`);
    expect(svg.match(/aria-roledescription="rect mark"/g)).toHaveLength(4);
  });
});
