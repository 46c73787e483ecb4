import { describe, expect, it } from 'vitest';
import type { ModelIR } from '@cellstack/core';
import { compileToIR, DslError, format, fromIR, parse, toIR } from '@cellstack/dsl';
import { corpus } from './corpus.js';
import { toyRuntime } from './helpers.js';

const rt = toyRuntime();

describe('format', () => {
  it('prints the canonical form: spacing, one stage per line when written over lines, comments kept', () => {
    const messy = `#header


use   "@cellstack/cell-nru"   # the NRU plugin
input[784,1]
NRU( hidden:212,memory : 256 , heads:4 )  # the cell
  ->last   # pool
  # a classifier
  ->  dense( 10,activation:softmax )
train{task:copy(lag:100) optimizer :adam( lr:1e-3 ),batch:10
# before steps
steps:2000 # many
} # after
# tail`;
    expect(format(messy)).toBe(`# header

use "@cellstack/cell-nru" # the NRU plugin
input [784, 1]
NRU(hidden: 212, memory: 256, heads: 4) # the cell
  -> last # pool
  # a classifier
  -> dense(10, activation: softmax)
train {
  task: copy(lag: 100)
  optimizer: adam(lr: 1e-3)
  batch: 10
  # before steps
  steps: 2000 # many
} # after
# tail
`);
  });

  it('keeps one-line pipelines on one line, drops empty parentheses, moves comments out of stages', () => {
    expect(format('STAR x16->dense')).toBe('STAR x16 -> dense\n');
    expect(format('LSTM() -> last\ntrain {}')).toBe('LSTM -> last\ntrain {}\n');
    expect(format('LSTM( # inside\n 3) -> last')).toBe('LSTM(3) # inside\n  -> last\n');
    expect(format('LSTM(128) -> # after the arrow\n GRU -> last')).toBe('LSTM(128) # after the arrow\n  -> GRU\n  -> last\n');
    expect(format('')).toBe('');
    expect(format('#c')).toBe('# c\n');
  });

  it('is idempotent on every corpus file and on the formatted form of each', () => {
    for (const src of corpus) {
      const once = format(src);
      expect(format(once)).toBe(once);
    }
  });

  it('keeps the meaning: parse(format(s)) gives the same IR as s, and every comment survives', () => {
    for (const src of corpus) {
      const ast = parse(src).ast!;
      const formatted = parse(format(src)).ast!;
      expect(toIR(formatted, { runtime: rt })).toEqual(toIR(ast, { runtime: rt }));
      expect(formatted.comments.map((c) => c.text.trim())).toEqual(ast.comments.map((c) => c.text.trim()));
    }
  });

  it('refuses a file with errors (DslError with its diagnostics)', () => {
    expect(() => format('LSTM(8 -> last', { file: 'bad.rnn' })).toThrow(DslError);
    expect(() => format('LSTM(8 -> last', { file: 'bad.rnn' })).toThrow(/^bad.rnn:1:8: error: expected '\)' but found '->'$/);
  });
});

describe('fromIR and round trips', () => {
  it('DSL → IR → DSL → IR gives the same IR and training spec, for every corpus file', async () => {
    for (const src of corpus) {
      const first = await compileToIR(src, { runtime: rt });
      const text = fromIR(first.ir, first.training);
      const second = await compileToIR(text, { runtime: rt });
      expect(second.ir).toEqual(first.ir);
      expect(second.training).toEqual(first.training);
      // and printing is stable
      expect(fromIR(second.ir, second.training)).toBe(text);
    }
  });

  it('prints a model built in code as a spec', async () => {
    const ir: ModelIR = {
      input: { shape: [null, 3] },
      layers: [
        { cell: 'STAR', options: { units: 32, init: 'uniform', decays: [0.5, 0.25] }, repeat: 4 },
        { cell: 'JANET', options: { tmax: null } },
        { type: 'layerNorm', epsilon: 0.001 },
        { type: 'last' },
        { type: 'dropout', rate: 0.1 },
        { type: 'dense', units: 10, activation: 'softmax', useBias: false },
      ],
      seed: 42,
    };
    const text = fromIR(ir, { task: { name: 'copy', options: { lag: 10 } }, optimizer: { name: 'adam', learningRate: 0.01 }, batch: 8, steps: 100, clipNorm: 1 });
    expect(text).toBe(`input [null, 3]
STAR(units: 32, init: uniform, decays: [0.5, 0.25]) x4
  -> JANET(tmax: null)
  -> layerNorm(epsilon: 0.001)
  -> last
  -> dropout(0.1)
  -> dense(10, activation: softmax, useBias: false)

train {
  task: copy(lag: 10)
  optimizer: adam(lr: 0.01)
  batch: 8
  steps: 100
  clip: 1
  seed: 42
}
`);
    expect((await compileToIR(text, { runtime: rt })).ir).toEqual(ir);
  });

  it('quotes strings that would not read back as names, and rejects what .rnn cannot say', () => {
    const ir = (options: Record<string, unknown>): ModelIR => ({ input: { shape: [2, 2] }, layers: [{ cell: 'X', options }] });
    expect(fromIR(ir({ a: 'true', b: 'x16', c: 'two words', d: 'UR-LSTM', e: '' }))).toContain('X(a: "true", b: "x16", c: "two words", d: UR-LSTM, e: "")');
    expect(() => fromIR(ir({ a: { nested: 1 } }))).toThrow(/layers\[0\]\.options\.a: objects cannot be written/);
    expect(() => fromIR(ir({ a: NaN }))).toThrow(/NaN cannot be written/);
    expect(() => fromIR({ ...ir({}), seed: 1 }, { seed: 2 })).toThrow(/one seed/);
  });
});

describe('the README', () => {
  it('shows only .rnn examples that parse cleanly and are already formatted', async () => {
    const { readFile } = await import('node:fs/promises');
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    const blocks = [...readme.matchAll(/```rnn\n([\s\S]*?)```/g)].map((m) => m[1]);
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    for (const b of blocks) {
      expect(parse(b).diagnostics).toEqual([]);
      expect(format(b)).toBe(b);
    }
  });
});
