/**
 * Every error cellstack raises on bad user input. `path` names the offending field
 * (e.g. `layers[2].options.units`), so callers such as the DSL can map it back to
 * a source position; `hint` carries a suggested fix when one exists.
 */
export class CellstackError extends Error {
  readonly path: string;
  readonly hint?: string;
  /** What kind of problem, for tools that sort or map errors (see ProblemCode); 'bad-value' when not given. */
  readonly code: ProblemCode;
  constructor(path: string, message: string, hint?: string, code: ProblemCode = 'bad-value') {
    super(path ? `${path}: ${message}${hint ? ` (${hint})` : ''}` : `${message}${hint ? ` (${hint})` : ''}`);
    this.name = 'CellstackError';
    this.path = path;
    this.hint = hint;
    this.detail = message;
    this.code = code;
  }
  /** The message without the path prefix. */
  readonly detail: string;
}

/**
 * Machine names of the problems core finds in an IR or in options, one per rule (as
 * typescript-eslint's message ids). `path` says where; these say what, so callers (the
 * DSL) never sort errors by their English wording.
 */
export type ProblemCode =
  | 'bad-value' // wrong type or range, or a cell's own cross-option check
  | 'unknown-option' // a property the schema does not have
  | 'missing-option' // a required property is absent
  | 'unknown-cell' // no registered cell of that name
  | 'cell-after-pooling' // a cell after `last`/`mean`
  | 'pooling-twice' // a second `last`/`mean`
  | 'masking-after-pooling' // `masking` after `last`/`mean`
  | 'embedding-not-first' // an embedding anywhere but first
  | 'embedding-input' // an embedding on an input with more than one feature
  | 'too-large'; // over a limit: layer count, parameter budget

/** A problem as data, for callers that report several at once (see checkIR). */
export interface Problem {
  path: string;
  code: ProblemCode;
  message: string;
  hint?: string;
  /** Another place the problem involves (e.g. the earlier pooling), as a path. */
  related?: string;
}

export const problemOf = (e: CellstackError): Problem => ({ path: e.path, code: e.code, message: e.detail, ...(e.hint ? { hint: e.hint } : {}) });

/** A problem as the error resolveIR throws; a related place is named after the message. */
export const errorOf = (p: Problem): CellstackError => new CellstackError(p.path, p.related ? `${p.message} at ${p.related}` : p.message, p.hint, p.code);

/** At most `max` characters of user input for a message: long names and strings are cut with '…'. */
export function clip(text: string, max = 80): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Levenshtein distance, for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  let prev = Array.from({ length: n + 1 }, (_, j) => j);
  for (let i = 1; i <= m; i++) {
    const cur = [i];
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1;
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
    }
    prev = cur;
  }
  return prev[n];
}

/** The closest candidate within a small edit distance, or undefined. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const limit = Math.max(2, Math.floor(word.length / 3));
  for (const c of candidates) {
    // The length difference bounds the distance from below: skip hopeless (and huge) pairs cheaply.
    if (Math.abs(word.length - c.length) > limit) continue;
    const d = editDistance(word, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return bestD <= limit ? best : undefined;
}
