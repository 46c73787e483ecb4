import { describe, expect, it } from 'vitest';
import { compileToIR, DslError, format, parse, type Diagnostic } from '@cellstack/dsl';
import { corpus } from './corpus.js';
import { toyRuntime } from './helpers.js';

/** Small seeded PRNG (mulberry32), so a failure can be replayed. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)] };
}

const TOKEN = /\s+|[A-Za-z_][\w-]*|-?\d[\w.+-]*|"[^"\n]*"?|->|#[^\n]*|./gs;
const NOISE = ['@', '"', '(', ')', '-', '>', 'x', 'x0', '#', '\n', '[', ']', ':', ',', '{', '}', '0', '.', 'é', '\t', '->', 'use', 'train', 'null', '1e', '\\'];

/** Delete, duplicate or swap tokens or characters, or insert noise: 1 to 3 edits. */
function mutate(src: string, r: ReturnType<typeof rng>): string {
  let s = src;
  for (let k = 1 + r.int(3); k > 0; k--) {
    const op = r.int(7);
    if (op < 4) {
      const toks = s.match(TOKEN) ?? [''];
      const i = r.int(toks.length);
      const j = r.int(toks.length);
      if (op === 0) toks.splice(i, 1);
      else if (op === 1) toks.splice(i, 0, toks[i]);
      else if (op === 2) [toks[i], toks[j]] = [toks[j], toks[i]];
      else toks.splice(i, 0, r.pick(NOISE));
      s = toks.join('');
    } else {
      const i = r.int(s.length + 1);
      const chars = [...s];
      if (op === 4) chars.splice(i, 1);
      else if (op === 5) chars.splice(i, 0, chars[i] ?? '');
      else if (i + 1 < chars.length) [chars[i], chars[i + 1]] = [chars[i + 1], chars[i]];
      s = chars.join('');
    }
  }
  return s;
}

/** Every diagnostic must point inside the source: 1-based, the end after the start, at most one past a line's end. */
function badPosition(d: Diagnostic, lines: string[]): string | undefined {
  const len = (l: number) => lines[l - 1]?.length ?? -1;
  const ok =
    Number.isInteger(d.line) && Number.isInteger(d.column) && Number.isInteger(d.endLine) && Number.isInteger(d.endColumn) &&
    d.line >= 1 && d.line <= lines.length && d.column >= 1 && d.column <= len(d.line) + 1 &&
    d.endLine >= d.line && d.endLine <= lines.length && (d.endLine > d.line || d.endColumn > d.column) && d.endColumn <= len(d.endLine) + 2 &&
    (d.severity === 'error' || d.severity === 'warning') && d.code.length > 0 && d.message.length > 0;
  return ok ? undefined : JSON.stringify(d);
}

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
