import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { compile, compileToIR, DslError, format, parse, type Diagnostic } from '@cellstack/dsl';
import { corpus } from './corpus.js';
import { badPosition, HOSTILE, rng, type HostileKind } from './fuzz-kit.js';
import { toyRuntime } from './helpers.js';

/**
 * The fuzzer of the hardening issue: hostile mutations of valid specs through parse,
 * compileToIR, format and compile. CI runs a few hundred inputs; tools/fuzz runs
 * thousands with other seeds (CELLSTACK_FUZZ_INPUTS, CELLSTACK_FUZZ_SEED).
 */
const INPUTS = Number(process.env.CELLSTACK_FUZZ_INPUTS ?? 300);
const SEED = Number(process.env.CELLSTACK_FUZZ_SEED ?? 20261203);
/** Per input: the time limit, and the most JS heap it may keep (a 1 MB line is ~2 MB as UTF-16, the old failures grew to GBs). */
const MAX_MS = 2000;
const MAX_HEAP_GROWTH = 256 * 2 ** 20;
/** A diagnostic quotes at most ~80 characters of input; with its fixed words and lists it stays below this. */
const MAX_TEXT = 500;

const EXAMPLES = fileURLToPath(new URL('../../../examples', import.meta.url));
const examples = readdirSync(EXAMPLES, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.rnn'))
  .map((f) => readFileSync(path.join(EXAMPLES, f), 'utf8'));
/** First-party packages count as registered: their `use` lines import nothing (their cells are then unknown to the toy runtime). */
const PRELOADED = ['@cellstack/cell-nru', '@cellstack/cell-ur', '@cellstack/cell-star', '@cellstack/cell-rru', '@cellstack/cell-dmu'];
/** Codes that mean a package was imported: no fuzzed `use` may get that far (nothing is allowed). */
const IMPORTED = new Set(['use-failed', 'use-no-cells', 'use-conflict']);

function problem(d: Diagnostic, lines: string[]): string | undefined {
  const where = badPosition(d, lines);
  if (where) return `position: ${where}`;
  if (d.message.length + (d.hint?.length ?? 0) > MAX_TEXT) return `quotes too much (${d.message.length} characters): ${d.message.slice(0, 200)}`;
  if (IMPORTED.has(d.code)) return `imported a package: ${d.message}`;
  return undefined;
}

describe(`fuzzer: ${INPUTS} hostile inputs (seed ${SEED})`, () => {
  it('gives only positioned diagnostics, a verdict within 2 s and bounded memory per input; nothing rejected allocates a tensor', async () => {
    const rt = toyRuntime();
    const r = rng(SEED);
    const sources = [...corpus, ...examples];
    const kinds = Object.keys(HOSTILE) as HostileKind[];
    const seen = new Map<HostileKind, number>();
    let compiled = 0;
    let rejected = 0;
    for (let n = 0; n < INPUTS; n++) {
      const kind = kinds[n % kinds.length];
      seen.set(kind, (seen.get(kind) ?? 0) + 1);
      const source = HOSTILE[kind](r.pick(sources), r);
      const lines = source.split(/\r\n|\r|\n/);
      const context = `input #${n} (${kind}, seed ${SEED}): ${JSON.stringify(source.slice(0, 300))}`;
      const started = performance.now();
      const heap = process.memoryUsage().heapUsed;
      const bytes = tf.memory().numBytes;

      const parsed = parse(source, { file: 'f.rnn' });
      for (const d of parsed.diagnostics) expect(problem(d, lines), context).toBeUndefined();
      const syntaxOk = !parsed.diagnostics.some((d) => d.severity === 'error');
      if (syntaxOk) {
        const once = format(source, { file: 'f.rnn' });
        expect(format(once, { file: 'f.rnn' }), context).toBe(once);
      }
      // Everything up to the verdict (parse, check, IR, limits) is timed; building an accepted model takes what its size takes.
      const verdict = await compileToIR(source, { runtime: rt, file: 'f.rnn', preloaded: PRELOADED }).then(
        (result) => result.diagnostics,
        (e: unknown) => e,
      );
      expect(performance.now() - started, `slow — ${context}`).toBeLessThan(MAX_MS);
      if (Array.isArray(verdict)) {
        for (const d of verdict) expect(problem(d, lines), context).toBeUndefined();
        const { model } = await compile(source, { runtime: rt, file: 'f.rnn', preloaded: PRELOADED });
        model.dispose();
        compiled++;
      } else {
        expect(verdict, context).toBeInstanceOf(DslError);
        for (const d of (verdict as DslError).diagnostics) expect(problem(d, lines), context).toBeUndefined();
        expect(tf.memory().numBytes, `a rejected input allocated tensors — ${context}`).toBe(bytes);
        rejected++;
      }
      expect(process.memoryUsage().heapUsed - heap, `heap grew — ${context}`).toBeLessThan(MAX_HEAP_GROWTH);
    }
    expect([...seen.keys()].sort()).toEqual([...kinds].sort());
    // Both outcomes occur: the fuzzer neither only breaks files nor leaves them all valid.
    expect(rejected).toBeGreaterThan(INPUTS / 3);
    expect(compiled).toBeGreaterThan(INPUTS / 50);
  }, 600_000);
});
