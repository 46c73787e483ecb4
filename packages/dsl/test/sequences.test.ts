import { describe, expect, it } from 'vitest';
import { CellLayer } from '@cellstack/core';
import { check, compile, compileToIR, DslError, format, fromIR, parse } from '../src/index.js';
import { toyRuntime, where } from './helpers.js';

const rt = toyRuntime();
const diagnose = (src: string) => check(parse(src).ast!, { runtime: rt });

describe('masking and bidirectional in .rnn', () => {
  it('compiles masking, embedding(maskZero) and a repeated bidirectional cell to the IR', async () => {
    const { ir } = await compileToIR('input [null, 2]\nmasking(value: -1) -> bidirectional(GRU(8), merge: sum) x2 -> last -> dense(1)\n', { runtime: rt });
    expect(ir.layers).toEqual([
      { type: 'masking', value: -1 },
      { cell: 'GRU', options: { units: 8 }, repeat: 2, bidirectional: { merge: 'sum' } },
      { type: 'last' },
      { type: 'dense', units: 1 },
    ]);
    const text = await compileToIR('input [20, 1]\nembedding(30, 4, maskZero: true) -> bidirectional(LSTM) -> mean -> dense(2)\n', { runtime: rt });
    expect(text.ir.layers.slice(0, 2)).toEqual([{ type: 'embedding', vocab: 30, dim: 4, maskZero: true }, { cell: 'LSTM', bidirectional: {} }]);
  });

  it('tracks the doubled width of concat: the next cell sees 2 × units', async () => {
    const { model } = await compile('input [5, 3]\nmasking -> bidirectional(GRU(4)) -> GRU(3) -> last -> dense(2)\n', { runtime: rt });
    const cells = model.layers.filter((l) => l instanceof CellLayer) as CellLayer[];
    expect(cells.map((c) => c.merge)).toEqual(['concat', undefined]);
    expect(model.outputs[0].shape).toEqual([null, 2]);
    expect(cells[0].outputShape).toEqual([null, 5, 8]);
    model.dispose();
  });

  it('formats, and prints the IR back as the same spec', async () => {
    const src = 'input [null, 2]\nmasking( 0 )->bidirectional( GRU( 8 ),merge:mul )x2->last->dense(1)\n';
    expect(format(src)).toBe('input [null, 2]\nmasking(0) -> bidirectional(GRU(8), merge: mul) x2 -> last -> dense(1)\n');
    const { ir } = await compileToIR(src, { runtime: rt });
    const printed = fromIR(ir);
    expect(printed).toBe('input [null, 2]\nmasking(0) -> bidirectional(GRU(units: 8), merge: mul) x2 -> last -> dense(1)\n');
    expect((await compileToIR(printed, { runtime: rt })).ir).toEqual(ir);
  });

  it.each([
    ['bidirectional -> last', '2:1 bad-bidirectional', "'bidirectional' wraps one cell, given first"],
    ['bidirectional(dense(3))', '2:15 bad-bidirectional', "wraps a cell, not the layer 'dense'"],
    ['bidirectional(GRU(3), merge: max)', '2:30 bad-option', "bidirectional option 'merge' must be one of 'concat' | 'sum' | 'mean' | 'mul' (got 'max')"],
    ['bidirectional(GRU(3), mode: sum)', '2:23 bad-bidirectional', "takes only 'merge' after its cell (got 'mode')"],
    ['bidirectional(GRUU(3))', '2:15 unknown-cell', "unknown cell 'GRUU'"],
    ['bidirectional(GRU(unit: 3))', '2:19 unknown-option', 'GRU: unknown option'],
    ['GRU(3) -> last -> masking', "2:19 masking-after-pooling", "'masking' marks padded time steps"],
    ['masking(value: yes) -> GRU(3)', '2:16 bad-option', "masking option 'value'"],
  ])('%s: a located error', (pipeline, at, message) => {
    const ds = diagnose(`input [5, 3]\n${pipeline}\n`);
    expect(where(ds)).toContain(at);
    expect(ds.map((d) => d.message).join('\n')).toContain(message);
  });

  it('reports merge given twice, at the second', async () => {
    const err = await compileToIR('input [5, 3]\nbidirectional(GRU(3), merge: concat, merge: sum)\n', { runtime: rt }).catch((e: DslError) => e);
    expect(err).toBeInstanceOf(DslError);
    expect(where((err as DslError).diagnostics)).toEqual(['2:38 duplicate-option']);
  });
});
