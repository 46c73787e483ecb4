import type { Span } from './ast.js';

/** One problem in a .rnn file: 1-based positions, the end exclusive. */
export interface Diagnostic {
  severity: 'error' | 'warning';
  /** Stable machine name, e.g. 'unknown-cell' (the README lists them all). */
  code: string;
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  message: string;
  hint?: string;
}

export const DEFAULT_FILE = '<input>';

/** `file:line:col: error: message (hint: …)` — the form editors and terminals link. */
export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.column}: ${d.severity}: ${d.message}${d.hint ? ` (hint: ${d.hint})` : ''}`;
}

/** Thrown by compile/format/toIR when there are errors; the message lists them all. */
export class DslError extends Error {
  readonly diagnostics: Diagnostic[];
  constructor(diagnostics: Diagnostic[]) {
    super(diagnostics.map(formatDiagnostic).join('\n'));
    this.name = 'DslError';
    this.diagnostics = diagnostics;
  }
}

export const hasErrors = (ds: readonly Diagnostic[]) => ds.some((d) => d.severity === 'error');

/** A span at the very start of a file, for problems that have no better place. */
export const FILE_START: Span = { line: 1, column: 1, endLine: 1, endColumn: 2, start: 0, end: 1 };

export function diagnostic(
  file: string,
  span: Span,
  code: string,
  message: string,
  hint?: string,
  severity: Diagnostic['severity'] = 'error',
): Diagnostic {
  const d: Diagnostic = { severity, code, file, line: span.line, column: span.column, endLine: span.endLine, endColumn: span.endColumn, message };
  if (hint) d.hint = hint;
  return d;
}

/** Diagnostics in source order (stable for equal positions). */
export const sortDiagnostics = (ds: Diagnostic[]) => ds.sort((a, b) => a.line - b.line || a.column - b.column);
