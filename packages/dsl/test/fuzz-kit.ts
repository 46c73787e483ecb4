import { createRng } from '@cellstack/core';
import type { Diagnostic } from '@cellstack/dsl';

/** Seeded input generation and the position check shared by the mutation test and the fuzzer. */

/** core's seeded PRNG (mulberry32), so a failure can be replayed, with a pick. */
export function rng(seed: number) {
  const r = createRng(seed);
  return { next: r.next, int: r.int, pick: <T>(xs: readonly T[]) => xs[r.int(xs.length)] };
}
export type Rng = ReturnType<typeof rng>;

const TOKEN = /\s+|[A-Za-z_][\w-]*|-?\d[\w.+-]*|"[^"\n]*"?|->|#[^\n]*|./gs;
const NOISE = ['@', '"', '(', ')', '-', '>', 'x', 'x0', '#', '\n', '[', ']', ':', ',', '{', '}', '0', '.', 'é', '\t', '->', 'use', 'train', 'null', '1e', '\\'];

/** Delete, duplicate or swap tokens or characters, or insert noise: 1 to 3 edits. */
export function mutate(src: string, r: Rng): string {
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
export function badPosition(d: Diagnostic, lines: string[]): string | undefined {
  const len = (l: number) => lines[l - 1]?.length ?? -1;
  const ok =
    Number.isInteger(d.line) && Number.isInteger(d.column) && Number.isInteger(d.endLine) && Number.isInteger(d.endColumn) &&
    d.line >= 1 && d.line <= lines.length && d.column >= 1 && d.column <= len(d.line) + 1 &&
    d.endLine >= d.line && d.endLine <= lines.length && (d.endLine > d.line || d.endColumn > d.column) && d.endColumn <= len(d.endLine) + 2 &&
    (d.severity === 'error' || d.severity === 'warning') && d.code.length > 0 && d.message.length > 0;
  return ok ? undefined : JSON.stringify(d);
}

const MB = 1 << 20;
const PROTO_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'prototype', 'isPrototypeOf', '__defineGetter__'];
const NUMBERS = ['1e400', '-1e400', '99999999999999999999', '9007199254740993', '1_000', '0x10', '1e', '4.', '1.2.3', '1e-400', '-0', '1e308', '0.0000001'];
const REPEATS = ['x99999999999999999999', 'x100000', 'x257', 'x256', 'x0', 'x1.5', 'x1e5'];
const UNICODE = ['\u2028', '\u2029', '\u00a0', '\u200b', '\u202e', '\ud83d', '\ude00', '😀', 'é', 'e\u0301', '\u0000', '\ufeff', '\u000b', 'Ω'];
const USES = ['../evil', '/etc/passwd', 'file:///tmp/x', 'node:fs', '@cellstack/../../x', 'a'.repeat(300), '', 'constructor', '__proto__', '@scope/*', 'http://x.test/p', 'C:\\x', 'third-party-cell', '\u0000'];

const insertAt = (s: string, i: number, text: string) => s.slice(0, i) + text + s.slice(i);
const tokensOf = (s: string) => s.match(TOKEN) ?? [''];

/** Replace one token matching `which` (if any) with `by`. */
function replaceToken(s: string, r: Rng, which: RegExp, by: string): string {
  const toks = tokensOf(s);
  const at = toks.map((t, i) => (which.test(t) ? i : -1)).filter((i) => i >= 0);
  if (!at.length) return insertAt(s, r.int(s.length + 1), by);
  toks[r.pick(at)] = by;
  return toks.join('');
}

/**
 * The hostile classes of the hardening issue, one per kind: deep nesting, unicode, BOM,
 * CR / CRLF, NUL, huge and non-finite numbers, huge repeats, 1 MB lines, truncation,
 * prototype names, hostile `use` strings — plus the plain mutations above.
 */
export const HOSTILE = {
  nesting: (s: string, r: Rng) => {
    const depth = r.pick([63, 64, 65, 300, 1000, 5000]);
    const [open, close] = r.pick([['[', ']'], ['f(', ')'], ['{', '}'], ['(', ')']]);
    const balanced = r.next() < 0.5;
    return insertAt(s, r.int(s.length + 1), open.repeat(depth) + (balanced ? close.repeat(depth) : ''));
  },
  unicode: (s: string, r: Rng) => insertAt(s, r.int(s.length + 1), r.pick(UNICODE)),
  bom: (s: string) => `\ufeff${s}`,
  lineEndings: (s: string, r: Rng) => s.replace(/\n/g, r.pick(['\r\n', '\r', '\n\r'])),
  nul: (s: string, r: Rng) => insertAt(s, r.int(s.length + 1), '\0'),
  number: (s: string, r: Rng) => replaceToken(s, r, /^-?\d/, r.pick(NUMBERS)),
  repeat: (s: string, r: Rng) => replaceToken(s, r, /^x\d/, r.pick(REPEATS)),
  hugeLine: (s: string, r: Rng) => {
    const fill = r.pick(['A', 'x', '9', ' ', 'é']).repeat(MB);
    const what = r.pick([fill, `"${fill}"`, `# ${fill}`, `${fill}(4)`, `use "${fill}"`]);
    return insertAt(s, r.int(s.length + 1), r.next() < 0.5 ? `\n${what}\n` : what);
  },
  truncate: (s: string, r: Rng) => s.slice(0, r.int(s.length + 1)),
  protoName: (s: string, r: Rng) => replaceToken(s, r, /^[A-Za-z_]/, r.pick(PROTO_NAMES)),
  use: (s: string, r: Rng) => `use ${JSON.stringify(r.pick(USES))}\n${s}`,
  plain: (s: string, r: Rng) => mutate(s, r),
} as const;

export type HostileKind = keyof typeof HOSTILE;
