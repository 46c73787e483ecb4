import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { compile, compileToIR, DslError, format, parse, type Diagnostic } from '@cellstack/dsl';
import { toyRuntime, where } from './helpers.js';

/** The diagnostics compileToIR throws (fails the test when it compiles). */
async function diagnosticsOf(source: string, opts: { maxParams?: number } = {}): Promise<Diagnostic[]> {
  const e = await compileToIR(source, { runtime: toyRuntime(), file: 'x.rnn', ...opts }).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(DslError);
  return (e as DslError).diagnostics;
}

const I = 'input [10, 3]\n';

// One regression test per item of the hardening issue; the fuzzer (fuzz.test.ts) covers the classes at large.
describe('hostile specs: each a clear, positioned diagnostic', () => {
  it('1. deep nesting is refused before it can exhaust the stack', async () => {
    const brackets = `${I}STAR(4, sizes: ${'['.repeat(1000)}${']'.repeat(1000)})`;
    const calls = `${I}STAR(4, sizes: ${'f('.repeat(300)}${')'.repeat(300)})`;
    // STAR's '(' is level 1, so the 64th '[' (the first at column 16) is level 65.
    expect(where(await diagnosticsOf(brackets))).toEqual(['2:79 too-deep']);
    expect((await diagnosticsOf(brackets))[0].message).toBe('brackets nest deeper than 64 levels here');
    expect(where(await diagnosticsOf(calls))).toEqual([`2:${16 + 2 * 63 + 1} too-deep`]);
    expect(() => format(brackets)).toThrow(DslError);
    // 64 levels (STAR's '(' and 63 '[') are still fine for the parser; the checker says what is wrong with the value.
    const ok = parse(`${I}STAR(4, sizes: ${'['.repeat(63)}${']'.repeat(63)})`);
    expect(ok.diagnostics).toEqual([]);
  });

  it('2. prototype names are names like any other: unknown cells, options, train keys', async () => {
    expect(where(await diagnosticsOf(`${I}constructor(4) -> last -> dense(1)`))).toEqual(['2:1 unknown-cell']);
    expect(where(await diagnosticsOf(`${I}toString(4) -> last -> dense(1)`))).toEqual(['2:1 unknown-cell']);
    const dunder = await diagnosticsOf(`${I}STAR(4, __proto__: 5) -> last -> dense(__proto__: 7)`);
    expect(where(dunder)).toEqual(['2:9 unknown-option', '2:40 unknown-option']);
    expect(dunder[1].message).toBe("dense: unknown option '__proto__'; allowed: units, activation, useBias, init");
    const keys = await diagnosticsOf(`${I}STAR(4) -> last -> dense(1)\ntrain { __proto__: 5, constructor: 3, toString: "x" }`);
    expect(where(keys)).toEqual(['3:9 unknown-train-key', '3:23 unknown-train-key', '3:39 unknown-train-key']);
    // A task option named `constructor` is one option, given once (the CLI's task then validates it).
    const { training } = await compileToIR(`${I}STAR(4) -> last -> dense(1)\ntrain { task: copy(constructor: 1, __proto__: 2) }`, { runtime: toyRuntime() });
    expect(Object.keys(training!.task!.options)).toEqual(['constructor', '__proto__']);
    expect(Object.getPrototypeOf(training!.task!.options)).toBe(Object.prototype);
  });

  it('3. numbers are finite: 1e400 is an error at its position, never Infinity in a check or a build', async () => {
    const t = Date.now();
    expect(where(await diagnosticsOf(`${I}STAR(1e400) -> last -> dense(1)`))).toEqual(['2:6 bad-number']);
    expect(where(await diagnosticsOf(`${I}STAR(4, decays: [0.5, 1e400]) -> last -> dense(1)`))).toEqual(['2:23 bad-number']);
    expect((await diagnosticsOf(`${I}STAR(-1e400)`))[0].message).toBe('-1e400 is out of range: numbers are finite, below about 1.8e308');
    expect(where(await diagnosticsOf(`${I}STAR(99999999999999999999) -> last`))).toEqual(['2:6 bad-number']);
    expect(where(await diagnosticsOf(`input [1e400, 3]\nSTAR(4)`))).toEqual(['1:8 bad-number']);
    expect(Date.now() - t).toBeLessThan(2000);
  });

  it('4. sizes are bounded before anything is built: repeat counts and the parameter budget', async () => {
    const huge = await diagnosticsOf(`${I}STAR(4) x99999999999999999999 -> last -> dense(1)`);
    expect(where(huge)).toEqual(['2:9 bad-repeat']);
    expect(huge[0].message).toBe('repeat count must be an integer in [1, 256] (got 100000000000000000000)');
    expect(where(await diagnosticsOf(`${I}STAR(4) x100000 -> last -> dense(1)`))).toEqual(['2:9 bad-repeat']);
    const bytes = tf.memory().numBytes;
    const wide = await diagnosticsOf('input [10, 212]\nSTAR(212) -> dense(1e6)');
    expect(where(wide)).toEqual(['2:14 too-large']);
    // STAR(212): 2·212² + 212 = 90,100; dense: 212·1e6 + 1e6.
    expect(wide[0].message).toBe('the model reaches 213,090,100 parameters here, over the budget of 50,000,000');
    expect(wide[0].hint).toMatch(/--max-params/);
    expect(tf.memory().numBytes).toBe(bytes);
    // The budget is the caller's to raise (or lower).
    const small = 'input [10, 3]\nSTAR(4) -> last -> dense(2)';
    expect(where(await diagnosticsOf(small, { maxParams: 10 }))).toEqual(['2:1 too-large']);
    const { model } = await compile(small, { runtime: toyRuntime(), maxParams: 1000 });
    expect(model.countParams()).toBeLessThan(1000);
    model.dispose();
  });

  it('5. a diagnostic quotes at most ~80 characters of input, and a huge name is quick', async () => {
    const name = 'A'.repeat(1_000_000);
    const t = Date.now();
    const ds = await diagnosticsOf(`${I}${name}(4) -> last -> dense(1)\ntrain { ${name.toLowerCase()}: 1 }`);
    expect(Date.now() - t).toBeLessThan(2000);
    expect(where(ds)).toEqual(['2:1 unknown-cell', '3:9 unknown-train-key']);
    for (const d of ds) expect(d.message.length).toBeLessThan(200);
    expect(ds[0].message).toContain(`'${'A'.repeat(79)}…'`);
    const str = await diagnosticsOf(`${I}STAR(4, init: "${'x'.repeat(1_000_000)}")\nuse "${'y'.repeat(1_000_000)}"`);
    for (const d of str) expect(d.message.length).toBeLessThan(300);
    // A megabyte of characters no token starts with is one diagnostic, lexed at once.
    const junk = await diagnosticsOf(`${I}STAR(4) ${'é'.repeat(1_000_000)}`);
    expect(where(junk)).toEqual(['2:9 stray-character']);
    expect(junk[0].message).toBe(`unexpected characters "${'é'.repeat(78)}…`);
    // A flood of tokens stops before the parser: one diagnostic at the first token past the limit.
    const flood = await diagnosticsOf(`${I}STAR(4)${' -> last'.repeat(60_000)}`);
    // Token 100,000 (from 0): 10 before the pipeline's arrows, then two per '-> last': the 49,996th arrow.
    expect(where(flood)).toEqual([`2:${8 + 49_995 * 8 + 1} too-large`]);
    expect(flood[0].message).toBe('the file has more than 100,000 tokens; this is the next one');
    expect(Date.now() - t).toBeLessThan(4000);
  });

  it('6. with a byte-order mark, line-1 columns are as without it', async () => {
    const src = 'STAR(0) -> last -> dense(1)';
    const plain = await diagnosticsOf(src);
    const bom = await diagnosticsOf(`\ufeff${src}`);
    expect(where(bom)).toEqual(where(plain));
    expect(where(bom)).toEqual(['1:1 no-input', '1:6 bad-option']);
    expect(where(parse('\ufeffSTAR(').diagnostics)).toEqual(['1:6 syntax']);
    expect(where(parse('\ufeffSTAR @').diagnostics)).toEqual(['1:6 stray-character']);
  });

  it("7. '1_000', '0x10' and a name ending in '-' are one error each", async () => {
    const under = await diagnosticsOf(`${I}STAR(1_000) -> last -> dense(1)`);
    expect(where(under)).toEqual(['2:6 bad-number']);
    expect(under[0]).toMatchObject({ message: "'1_000' is not a number", hint: "write digits without '_': 1_000 is 1000" });
    const hex = await diagnosticsOf(`${I}STAR(0x10) -> last -> dense(1)`);
    expect(where(hex)).toEqual(['2:6 bad-number']);
    expect(hex[0].hint).toBe('write numbers in decimal: 0x10 is 16');
    const dash = await diagnosticsOf(`${I}STAR(4) -> last -> dense(1)\ntrain { task: copy(preset: UR-) }`);
    expect(where(dash)).toEqual(['3:28 bad-name']);
    expect(dash[0].message).toBe("a name cannot end with '-' (got 'UR-')");
    // Still fine: exponents, arrows straight after a dashed name.
    expect(parse(`${I}UR-LSTM(4, tmax: 1e5)->last`).diagnostics).toEqual([]);
  });
});
