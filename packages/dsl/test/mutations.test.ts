import { describe, expect, it } from 'vitest';
import { compileToIR, DslError, format, parse } from '@cellstack/dsl';
import { corpus } from './corpus.js';
import { badPosition, mutate, rng } from './fuzz-kit.js';
import { toyRuntime } from './helpers.js';

describe('1,000 random mutations of valid files', () => {
  it('produce only diagnostics (never another throw), each at a valid position', async () => {
    const rt = toyRuntime();
    const r = rng(20241122);
    let withErrors = 0;
    let compiled = 0;
    for (let n = 0; n < 1000; n++) {
      const source = mutate(corpus[n % corpus.length], r);
      const lines = source.split(/\r\n|\r|\n/);
      const context = `mutation #${n}:\n${source}`;
      const { ast, diagnostics } = parse(source, { file: 'm.rnn' });
      expect(ast, context).toBeDefined();
      for (const d of diagnostics) expect(badPosition(d, lines), context).toBeUndefined();
      const parseErrors = diagnostics.some((d) => d.severity === 'error');

      // compileToIR = parse + check (+ IR): its diagnostics cover the checker's.
      try {
        const { diagnostics: warnings } = await compileToIR(source, { runtime: rt, file: 'm.rnn' });
        for (const d of warnings) expect(badPosition(d, lines), context).toBeUndefined();
        expect(parseErrors, `compiled despite syntax errors — ${context}`).toBe(false);
        compiled++;
      } catch (e) {
        expect(e, context).toBeInstanceOf(DslError);
        for (const d of (e as DslError).diagnostics) expect(badPosition(d, lines), context).toBeUndefined();
        withErrors++;
      }
      if (!parseErrors) {
        const once = format(source);
        expect(format(once), context).toBe(once);
      }
    }
    // Both outcomes occur: the mutations are neither all harmless nor all fatal.
    expect(withErrors).toBeGreaterThan(300);
    expect(compiled).toBeGreaterThan(20);
  });
});
