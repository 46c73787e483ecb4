/**
 * Every error cellstack raises on bad user input. `path` names the offending field
 * (e.g. `layers[2].options.units`), so callers such as the DSL can map it back to
 * a source position; `hint` carries a suggested fix when one exists.
 */
export class CellstackError extends Error {
  readonly path: string;
  readonly hint?: string;
  constructor(path: string, message: string, hint?: string) {
    super(path ? `${path}: ${message}${hint ? ` (${hint})` : ''}` : `${message}${hint ? ` (${hint})` : ''}`);
    this.name = 'CellstackError';
    this.path = path;
    this.hint = hint;
    this.detail = message;
  }
  /** The message without the path prefix. */
  readonly detail: string;
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
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}
