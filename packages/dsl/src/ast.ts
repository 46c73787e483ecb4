/**
 * The .rnn AST. Every node carries its source span: 1-based line and column, the end
 * exclusive (the column after the last character), plus character offsets for tools.
 */
export interface Span {
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  /** Offset of the first character. */
  start: number;
  /** Offset after the last character. */
  end: number;
}

export type Value =
  | { kind: 'number'; value: number; raw: string; span: Span }
  | { kind: 'string'; value: string; span: Span }
  | { kind: 'boolean'; value: boolean; span: Span }
  | { kind: 'null'; span: Span }
  /** A bare name: an enum string in options (`activation: softmax`) or a call without arguments. */
  | { kind: 'ident'; name: string; span: Span }
  | { kind: 'array'; items: Value[]; span: Span }
  /** `copy(lag: 100)` — only meaningful in the train block. */
  | { kind: 'call'; name: string; nameSpan: Span; args: Arg[]; span: Span };

/** One option: positional (`64`) or named (`units: 64`). */
export interface Arg {
  name?: string;
  nameSpan?: Span;
  value: Value;
  span: Span;
}

/** One pipeline stage: a cell or a built-in layer, with options and an optional `xN`. */
export interface Stage {
  name: string;
  nameSpan: Span;
  /** Undefined when written without parentheses. */
  args?: Arg[];
  repeat?: { raw: string; value: number; span: Span };
  span: Span;
}

export interface UseDecl {
  package: string;
  packageSpan: Span;
  span: Span;
}

export interface InputDecl {
  timesteps: number | null;
  features: number;
  timestepsRaw: string;
  featuresRaw: string;
  timestepsSpan: Span;
  featuresSpan: Span;
  dtype?: { name: string; span: Span };
  span: Span;
}

export interface TrainEntry {
  key: string;
  keySpan: Span;
  value: Value;
  span: Span;
}

export interface TrainBlock {
  entries: TrainEntry[];
  span: Span;
  /** Span of `train {`. */
  openSpan: Span;
  /** Span of the closing brace (comments before it stay inside the block). */
  closeSpan?: Span;
}

export interface Comment {
  /** The text after '#', trailing spaces removed. */
  text: string;
  span: Span;
}

export interface Pipeline {
  stages: Stage[];
  span: Span;
}

export type Statement =
  | { kind: 'use'; node: UseDecl }
  | { kind: 'input'; node: InputDecl }
  | { kind: 'pipeline'; node: Pipeline }
  | { kind: 'train'; node: TrainBlock };

/** A parsed .rnn file. */
export interface SpecAST {
  file: string;
  /** Statements in source order (the formatter keeps it). */
  statements: Statement[];
  uses: UseDecl[];
  /** The (first) input declaration. */
  input?: InputDecl;
  /** The pipeline; stages of pipelines separated by a missing '->' are joined. */
  pipeline: Stage[];
  /** The (first) train block. */
  training?: TrainBlock;
  comments: Comment[];
  /** Number of source lines (for position checks). */
  lines: number;
  /** Where lexing or parsing failed: later passes stay quiet about names that touch these. */
  damaged: Span[];
}

/** Do two spans overlap or touch (no character between them)? */
export const touches = (a: Span, b: Span) => a.start <= b.end && b.start <= a.end;
