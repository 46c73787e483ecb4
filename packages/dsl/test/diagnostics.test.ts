import { describe, expect, it } from 'vitest';
import { check, compile, DslError, formatDiagnostic, parse, type Diagnostic } from '@cellstack/dsl';
import { toyRuntime, where } from './helpers.js';

const rt = toyRuntime();

/** Parse + check, as compile does (without `use`). */
function diagnose(source: string): Diagnostic[] {
  const { ast, diagnostics } = parse(source, { file: 'f.rnn' });
  return [...diagnostics, ...check(ast!, { runtime: rt, file: 'f.rnn' })].sort((a, b) => a.line - b.line || a.column - b.column);
}

interface Case {
  what: string;
  source: string;
  at: string;
  end?: string;
  message: RegExp;
  hint?: RegExp;
  severity?: 'warning';
}

const I = 'input [10, 2]\n';
const cases: Case[] = [
  { what: 'unknown cell: did you mean + the registered list', source: `${I}STRA(64) -> last -> dense(10)`, at: '2:1 unknown-cell', end: '2:5', message: /^unknown cell 'STRA'; registered cells: LSTM, GRU, SimpleRNN, JANET, STAR, RRU, UR-LSTM$/, hint: /^did you mean STAR\?$/ },
  { what: 'unknown cell without a close name: how to load one', source: `${I}Mamba(3)`, at: '2:1 unknown-cell', message: /unknown cell 'Mamba'/, hint: /use "<package>"/ },
  { what: 'unknown option: the allowed names', source: `${I}STAR(64, unit: 1) -> last`, at: '2:10 unknown-option', end: '2:14', message: /^STAR: unknown option 'unit'; allowed: units, init, decays$/, hint: /did you mean 'units'\?/ },
  { what: 'wrong type, from the schema', source: `${I}STAR(units: "64") -> last`, at: '2:13 bad-option', end: '2:17', message: /^STAR option 'units' must be an integer >= 1 \(got '64'\)$/ },
  { what: 'out of range, from the schema', source: `${I}LSTM(units: 0)`, at: '2:13 bad-option', message: /^LSTM option 'units' must be an integer >= 1 \(got 0\)$/ },
  { what: 'enum value given as a name', source: `${I}STAR(init: normal)`, at: '2:12 bad-option', message: /must be one of 'glorot' \| 'uniform' \(got 'normal'\)/ },
  { what: 'array item out of range points at the item', source: `${I}STAR(decays: [0.5, 2])`, at: '2:20 bad-option', end: '2:21', message: /option 'decays\[1\]' must be a number in \[0, 1\] \(got 2\)/ },
  { what: 'a cross-option check of the plugin (validate) maps to its option', source: `${I}RRU(outputSize: 0)`, at: '2:17 bad-option', message: /RRU option 'outputSize'/ },
  { what: 'built-in layer option out of range', source: `${I}LSTM -> dropout(1.5)`, at: '2:17 bad-option', message: /^dropout option 'rate' must be a number in \[0, 1\) \(got 1.5\)$/ },
  { what: 'missing required option', source: `input [5, 1]\nembedding(dim: 4) -> LSTM`, at: '2:1 missing-option', message: /^embedding option 'vocab' is required/ },
  { what: 'unterminated string', source: `${I}STAR(init: "abc) -> last`, at: '2:12 unterminated-string', end: '2:25', message: /unterminated string/ },
  { what: 'stray characters (one report for a run)', source: `${I}LSTM(8) -> l@@st`, at: '2:13 stray-character', end: '2:15', message: /unexpected characters "@@"/ },
  { what: "missing '->'", source: `${I}LSTM(8)\n  GRU(4) -> last`, at: '3:3 missing-arrow', end: '3:6', message: /^missing '->' between 'LSTM' and 'GRU'$/ },
  { what: 'x0', source: `${I}STAR x0 -> last`, at: '2:6 bad-repeat', end: '2:8', message: /^repeat count must be an integer in \[1, 256\] \(got 0\)$/ },
  { what: 'x1.5', source: `${I}STAR x1.5 -> last`, at: '2:6 bad-repeat', end: '2:10', message: /\(got 1\.5\)/ },
  { what: 'repeat on a layer', source: `${I}LSTM -> dense(3) x2`, at: '2:18 bad-repeat', message: /only cells repeat/ },
  { what: 'unknown pooling', source: `${I}LSTM -> max -> dense(3)`, at: '2:9 unknown-pooling', end: '2:12', message: /^unknown pooling 'max'; a sequence is pooled over time with 'last' or 'mean'$/ },
  { what: 'misspelt pooling', source: `${I}LSTM -> lst -> dense(3)`, at: '2:9 unknown-pooling', message: /unknown pooling 'lst'/, hint: /did you mean last\?/ },
  { what: 'misspelt layer', source: `${I}LSTM -> last -> dens(3)`, at: '2:17 unknown-layer', message: /unknown layer 'dens'/, hint: /did you mean dense\?/ },
  { what: 'dense before any cell on a sequence (a warning)', source: `${I}dense(16) -> LSTM(8) -> last`, at: '2:1 dense-before-cell', severity: 'warning', message: /'dense' before any cell acts on each time step/ },
  { what: 'a cell after pooling', source: `${I}LSTM -> last -> GRU`, at: '2:17 cell-after-pooling', message: /^GRU needs a sequence, but it was already pooled over time by 'last' on line 2$/ },
  { what: 'pooling twice', source: `${I}LSTM -> mean -> last`, at: '2:17 pooling-twice', message: /^'last' pools over time, but it was already pooled by 'mean' on line 2$/ },
  { what: 'embedding not first', source: `input [10, 1]\nLSTM -> embedding(5, 2)`, at: '2:9 embedding-not-first', message: /must be the first layer/ },
  { what: 'embedding on a multi-feature input', source: `${I}embedding(5, 2) -> LSTM`, at: '1:12 embedding-input', message: /must be \[timesteps, 1\] \(got 2 features\)/ },
  { what: 'too many positional options', source: `${I}LSTM(8, 2)`, at: '2:9 too-many-positional', message: /^LSTM takes at most 1 positional option \(units\)$/ },
  { what: 'positional after named', source: `${I}LSTM(units: 8, 2)`, at: '2:16 positional-after-named', message: /positional option after a named one/ },
  { what: 'duplicate option', source: `${I}LSTM(8, units: 9)`, at: '2:9 duplicate-option', message: /'units' is given twice/ },
  { what: 'bad input shape', source: `input [0, 2]\nLSTM`, at: '1:8 bad-input', message: /^timesteps must be an integer >= 1 or null \(got 0\)$/ },
  { what: 'no input anywhere', source: `LSTM -> last`, at: '1:1 no-input', message: /no input shape/, hint: /input \[784, 1\]/ },
  { what: 'no pipeline', source: `# nothing\ninput [3, 3]\n`, at: '1:1 no-pipeline', message: /no pipeline/ },
  { what: 'two inputs', source: `${I}input [3, 3]\nLSTM`, at: '2:1 duplicate-input', message: /at most one 'input'/ },
  { what: 'syntax: missing closing parenthesis', source: `${I}LSTM(8 -> last`, at: '2:8 syntax', end: '2:10', message: /^expected '\)' but found '->'$/ },
  { what: 'syntax: at the end of the file', source: `${I}LSTM -> last ->`, at: '2:16 syntax', message: /^expected a name but found the end of the file$/ },
  { what: 'syntax: a stray value after the pipeline', source: `${I}LSTM -> last 5`, at: '2:14 syntax', message: /^unexpected '5'; expected 'use', 'input', 'train' or a pipeline/ },
];

describe('every diagnostic, at its exact line:column', () => {
  for (const c of cases) {
    it(c.what, () => {
      const ds = diagnose(c.source);
      expect(where(ds)).toEqual([c.at]);
      const d = ds[0];
      expect(d.severity).toBe(c.severity ?? 'error');
      expect(d.file).toBe('f.rnn');
      expect(d.message).toMatch(c.message);
      if (c.hint) expect(d.hint).toMatch(c.hint);
      if (c.end) expect(`${d.endLine}:${d.endColumn}`).toBe(c.end);
    });
  }
});

describe('reporting', () => {
  it('reports several errors in one file, lexical, syntax and semantic, in source order', () => {
    const source = [
      'input [10, 2]',
      'STRA(64) x0 -> l@st -> dense(3',
      '  -> max',
      'train {',
      '  batch: 0',
      '  stepz: 10',
      '  optimizer: adamw(lr: 1e-3)',
      '}',
      'LSTM(units: -1) -> mean',
    ].join('\n');
    expect(where(diagnose(source))).toEqual([
      '2:1 unknown-cell',
      '2:10 bad-repeat',
      '2:17 stray-character',
      '3:3 syntax', // expected ')' but found '->'
      '3:6 unknown-pooling',
      '5:10 bad-train-value',
      '6:3 unknown-train-key',
      '7:14 bad-train-value',
      '9:1 missing-arrow',
      '9:13 bad-option',
    ]);
  });

  it('reports every problem of the one core pass, each at its own node, in source order', () => {
    // Layer 0: an unknown option; layer 2: a bad size (an array item); layer 4: a cell after
    // pooling; layer 5: a bad built-in option; and a bad train key — all at once.
    const source = [
      'input [10, 2]',
      'STAR(4, unit: 2)',
      '  -> LSTM(8)',
      '  -> STAR(4, decays: [0.5, 2])',
      '  -> last',
      '  -> GRU(3)',
      '  -> dropout(rate: 1.5)',
      'train { stepz: 10 }',
    ].join('\n');
    const ds = diagnose(source);
    expect(ds.map((d) => `${d.line}:${d.column}-${d.endLine}:${d.endColumn} ${d.code}`)).toEqual([
      '2:9-2:13 unknown-option',
      '4:28-4:29 bad-option',
      '6:6-6:9 cell-after-pooling',
      '7:20-7:23 bad-option',
      '8:9-8:14 unknown-train-key',
    ]);
    expect(ds.map((d) => d.message)).toEqual([
      "STAR: unknown option 'unit'; allowed: units, init, decays",
      "STAR option 'decays[1]' must be a number in [0, 1] (got 2)",
      "GRU needs a sequence, but it was already pooled over time by 'last' on line 5",
      "dropout option 'rate' must be a number in [0, 1) (got 1.5)",
      "unknown train key 'stepz'; allowed: task, optimizer, batch, steps, epochs, clip, seed",
    ]);
  });

  it('compile throws a DslError whose message lists every diagnostic as file:line:col', async () => {
    const err = await compile(`${I}STRA(64) -> max`, { runtime: rt, file: 'f.rnn' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DslError);
    const e = err as DslError;
    expect(e.diagnostics).toHaveLength(2);
    expect(e.message).toBe(e.diagnostics.map(formatDiagnostic).join('\n'));
    expect(e.message.split('\n')[0]).toBe("f.rnn:2:1: error: unknown cell 'STRA'; registered cells: LSTM, GRU, SimpleRNN, JANET, STAR, RRU, UR-LSTM (hint: did you mean STAR?)");
    expect(e.stack).toBeDefined();
    expect(e.message).not.toMatch(/\bat .*\.ts:\d+/); // no stack trace in what users see
  });

  it('warnings do not stop compilation and come back with the model', async () => {
    const { diagnostics, model } = await compile(`${I}dense(4) -> LSTM(3) -> last`, { runtime: rt });
    expect(where(diagnostics)).toEqual(['2:1 dense-before-cell']);
    expect(model.outputs[0].shape).toEqual([null, 3]);
  });

  it("the caller's input shape fills in a missing input line, and must agree with one that is there", async () => {
    const ok = await compile('LSTM(3) -> last', { runtime: rt, input: [6, 2] });
    expect(ok.ir.input.shape).toEqual([6, 2]);
    const both = await compile('input [null, 2]\nLSTM(3) -> last', { runtime: rt, input: [6, 2] });
    expect(both.ir.input.shape).toEqual([6, 2]);
    const err = (await compile(`${I}LSTM(3)`, { runtime: rt, input: [10, 5], file: 'f.rnn' }).catch((e: DslError) => e)) as DslError;
    expect(where(err.diagnostics)).toEqual(['1:1 input-mismatch']);
    expect(err.diagnostics[0].message).toMatch(/input \[10, 2\] does not match the data's \[10, 5\]/);
  });
});
