import type { CstNode, IRecognitionException, IToken, TokenType } from 'chevrotain';
import { touches, type Arg, type Comment, type InputDecl, type Pipeline, type Span, type SpecAST, type Stage, type Statement, type TrainBlock, type TrainEntry, type UseDecl, type Value } from './ast.js';
import { clip } from '@cellstack/core';
import { DEFAULT_FILE, diagnostic, sortDiagnostics, type Diagnostic } from './diagnostics.js';
import { parser } from './parser.js';
import { BadName, BadNumber, Identifier, lexer, NumberLiteral, StringLiteral, UnterminatedString } from './tokens.js';

type Ctx = Record<string, (CstNode | IToken)[] | undefined>;

/** A token that is really in the source (recovery may insert virtual ones without positions). */
const real = (t: IToken | undefined): t is IToken => t !== undefined && !t.isInsertedInRecovery && Number.isFinite(t.startOffset);

export function tokenSpan(t: IToken): Span {
  return {
    line: t.startLine ?? 1,
    column: t.startColumn ?? 1,
    endLine: t.endLine ?? t.startLine ?? 1,
    endColumn: (t.endColumn ?? t.startColumn ?? 0) + 1,
    start: t.startOffset,
    end: (t.endOffset ?? t.startOffset) + 1,
  };
}

export const joinSpans = (a: Span, b: Span): Span => ({
  line: a.line,
  column: a.column,
  endLine: b.endLine,
  endColumn: b.endColumn,
  start: a.start,
  end: b.end,
});

function decodeString(image: string): string {
  const closed = image.length > 1 && image.endsWith('"');
  try {
    return JSON.parse(closed ? image : `${image}"`) as string;
  } catch {
    return image.slice(1, closed ? -1 : undefined);
  }
}

const tok = (ctx: Ctx, key: string, i = 0): IToken | undefined => {
  const t = ctx[key]?.[i] as IToken | undefined;
  return real(t) ? t : undefined;
};
const node = (ctx: Ctx, key: string, i = 0) => ctx[key]?.[i] as CstNode | undefined;
const nodes = (ctx: Ctx, key: string) => (ctx[key] ?? []) as CstNode[];

const BaseVisitor = parser.getBaseCstVisitorConstructor();

/**
 * CST → AST. Tolerant of recovered (incomplete) trees: a construct whose required
 * tokens are missing is left out, since the parser has already reported it.
 */
class AstBuilder extends BaseVisitor {
  constructor() {
    super();
    this.validateVisitor();
  }

  spec(ctx: Ctx): Statement[] {
    return nodes(ctx, 'statement').map((n) => this.visit(n) as Statement | undefined).filter((s): s is Statement => s !== undefined);
  }

  statement(ctx: Ctx): Statement | undefined {
    const pick = (key: string, kind: Statement['kind']) => {
      const n = node(ctx, key);
      if (!n) return undefined;
      const built = this.visit(n);
      return built ? ({ kind, node: built } as Statement) : undefined;
    };
    return pick('useDecl', 'use') ?? pick('inputDecl', 'input') ?? pick('trainBlock', 'train') ?? pick('pipeline', 'pipeline');
  }

  useDecl(ctx: Ctx): UseDecl | undefined {
    const kw = tok(ctx, 'Use');
    const str = tok(ctx, 'StringLiteral');
    if (!kw || !str) return undefined;
    const packageSpan = tokenSpan(str);
    return { package: decodeString(str.image), packageSpan, span: joinSpans(tokenSpan(kw), packageSpan) };
  }

  inputDecl(ctx: Ctx): InputDecl | undefined {
    const kw = tok(ctx, 'Input');
    const ts = tok(ctx, 'timesteps');
    const fs = tok(ctx, 'features');
    const close = tok(ctx, 'RBracket');
    if (!kw || !ts || !fs) return undefined;
    const dtype = tok(ctx, 'dtype');
    return {
      timesteps: ts.image === 'null' ? null : Number(ts.image),
      features: Number(fs.image),
      timestepsRaw: ts.image,
      featuresRaw: fs.image,
      timestepsSpan: tokenSpan(ts),
      featuresSpan: tokenSpan(fs),
      ...(dtype ? { dtype: { name: dtype.image, span: tokenSpan(dtype) } } : {}),
      span: joinSpans(tokenSpan(kw), tokenSpan(close ?? fs)),
    };
  }

  pipeline(ctx: Ctx): Pipeline | undefined {
    const stages = nodes(ctx, 'stage').map((n) => this.visit(n) as Stage | undefined).filter((s): s is Stage => s !== undefined);
    if (stages.length === 0) return undefined;
    return { stages, span: joinSpans(stages[0].span, stages[stages.length - 1].span) };
  }

  stage(ctx: Ctx): Stage | undefined {
    const name = tok(ctx, 'Identifier');
    if (!name) return undefined;
    const nameSpan = tokenSpan(name);
    const argList = node(ctx, 'argList');
    const list = argList ? (this.visit(argList) as { args: Arg[]; span: Span } | undefined) : undefined;
    const rep = tok(ctx, 'Repeat');
    const repeat = rep ? { raw: rep.image, value: Number(rep.image.slice(1)), span: tokenSpan(rep) } : undefined;
    const last = repeat?.span ?? list?.span ?? nameSpan;
    return { name: name.image, nameSpan, ...(list ? { args: list.args } : {}), ...(repeat ? { repeat } : {}), span: joinSpans(nameSpan, last) };
  }

  argList(ctx: Ctx): { args: Arg[]; span: Span } | undefined {
    const open = tok(ctx, 'LParen');
    if (!open) return undefined;
    const args = nodes(ctx, 'arg').map((n) => this.visit(n) as Arg | undefined).filter((a): a is Arg => a !== undefined);
    const close = tok(ctx, 'RParen');
    const end = close ? tokenSpan(close) : args.length ? args[args.length - 1].span : tokenSpan(open);
    return { args, span: joinSpans(tokenSpan(open), end) };
  }

  arg(ctx: Ctx): Arg | undefined {
    const v = node(ctx, 'value');
    const value = v ? (this.visit(v) as Value | undefined) : undefined;
    if (!value) return undefined;
    const name = tok(ctx, 'name');
    if (name) {
      const nameSpan = tokenSpan(name);
      return { name: name.image, nameSpan, value, span: joinSpans(nameSpan, value.span) };
    }
    // A named argument whose name was lost in recovery is dropped rather than guessed.
    if (ctx.name) return undefined;
    return { value, span: value.span };
  }

  value(ctx: Ctx): Value | undefined {
    const n = tok(ctx, 'NumberLiteral');
    if (n) return { kind: 'number', value: Number(n.image), raw: n.image, span: tokenSpan(n) };
    const s = tok(ctx, 'StringLiteral');
    if (s) return { kind: 'string', value: decodeString(s.image), span: tokenSpan(s) };
    const t = tok(ctx, 'True') ?? tok(ctx, 'False');
    if (t) return { kind: 'boolean', value: t.image === 'true', span: tokenSpan(t) };
    const z = tok(ctx, 'Null');
    if (z) return { kind: 'null', span: tokenSpan(z) };
    const sub = node(ctx, 'array') ?? node(ctx, 'call');
    return sub ? (this.visit(sub) as Value | undefined) : undefined;
  }

  array(ctx: Ctx): Value | undefined {
    const open = tok(ctx, 'LBracket');
    if (!open) return undefined;
    const items = nodes(ctx, 'value').map((n) => this.visit(n) as Value | undefined).filter((v): v is Value => v !== undefined);
    const close = tok(ctx, 'RBracket');
    const end = close ? tokenSpan(close) : items.length ? items[items.length - 1].span : tokenSpan(open);
    return { kind: 'array', items, span: joinSpans(tokenSpan(open), end) };
  }

  call(ctx: Ctx): Value | undefined {
    const name = tok(ctx, 'Identifier');
    if (!name) return undefined;
    const nameSpan = tokenSpan(name);
    const argList = node(ctx, 'argList');
    const list = argList ? (this.visit(argList) as { args: Arg[]; span: Span } | undefined) : undefined;
    if (!argList) return { kind: 'ident', name: name.image, span: nameSpan };
    return { kind: 'call', name: name.image, nameSpan, args: list?.args ?? [], span: joinSpans(nameSpan, list?.span ?? nameSpan) };
  }

  trainBlock(ctx: Ctx): TrainBlock | undefined {
    const kw = tok(ctx, 'Train');
    if (!kw) return undefined;
    const entries = nodes(ctx, 'entry').map((n) => this.visit(n) as TrainEntry | undefined).filter((e): e is TrainEntry => e !== undefined);
    const close = tok(ctx, 'RBrace');
    const open = tok(ctx, 'LBrace');
    const end = close ? tokenSpan(close) : entries.length ? entries[entries.length - 1].span : tokenSpan(open ?? kw);
    const openSpan = joinSpans(tokenSpan(kw), tokenSpan(open ?? kw));
    return { entries, span: joinSpans(tokenSpan(kw), end), openSpan, ...(close ? { closeSpan: tokenSpan(close) } : {}) };
  }

  entry(ctx: Ctx): TrainEntry | undefined {
    const key = tok(ctx, 'Identifier');
    const v = node(ctx, 'value');
    const value = v ? (this.visit(v) as Value | undefined) : undefined;
    if (!key || !value) return undefined;
    const keySpan = tokenSpan(key);
    return { key: key.image, keySpan, value, span: joinSpans(keySpan, value.span) };
  }
}

const builder = new AstBuilder();

/** Where to report a parse error whose token has no position (end of file, or a token recovery invented). */
function errorSpan(e: IRecognitionException, tokens: IToken[], source: string): Span {
  if (real(e.token)) return tokenSpan(e.token);
  const prev = (e as IRecognitionException & { previousToken?: IToken }).previousToken;
  const anchor = real(prev) ? prev : tokens[tokens.length - 1];
  if (anchor) {
    const s = tokenSpan(anchor);
    return { line: s.endLine, column: s.endColumn, endLine: s.endLine, endColumn: s.endColumn + 1, start: s.end, end: s.end + 1 };
  }
  const lines = source.split(/\r\n|\r|\n/);
  const line = lines.length;
  const column = lines[line - 1].replace(/^\ufeff/, '').length + 1;
  return { line, column, endLine: line, endColumn: column + 1, start: source.length, end: source.length + 1 };
}

/** Deepest nesting of (), [] and {} the parser accepts: far beyond any spec, far below the stack's limit. */
export const MAX_NESTING = 64;
/** Most tokens in a file (a spec has tens): the parser's time stays well under a second. */
export const MAX_TOKENS = 100_000;

const OPEN = new Set(['(', '[', '{']);
const CLOSE = new Set([')', ']', '}']);

/** The first token that opens a bracket past MAX_NESTING, if any. */
function tooDeep(tokens: IToken[]): IToken | undefined {
  let depth = 0;
  for (const t of tokens) {
    if (OPEN.has(t.image)) {
      if (++depth > MAX_NESTING) return t;
    } else if (CLOSE.has(t.image)) depth = Math.max(0, depth - 1);
  }
  return undefined;
}

/** Line-1 columns, minus the byte-order mark chevrotain counted. */
function unshiftBom(tokens: IToken[], errors: { line?: number; column?: number }[]): void {
  for (const t of tokens) {
    if (t.startLine === 1 && t.startColumn !== undefined) t.startColumn--;
    if (t.endLine === 1 && t.endColumn !== undefined) t.endColumn--;
  }
  for (const e of errors) if (e.line === 1 && e.column !== undefined) e.column--;
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** A token that lexed but is wrong as written: a malformed or out-of-range number, a name ending in '-', an open string. */
function tokenProblem(t: IToken): { code: string; message: string; hint?: string; as: TokenType } | undefined {
  const shown = clip(t.image);
  if (t.tokenType === UnterminatedString) {
    return { code: 'unterminated-string', message: 'unterminated string: no closing \'"\' on this line', hint: 'strings end on the line they start: "…"', as: StringLiteral };
  }
  if (t.tokenType === BadNumber) {
    const hint = /^-?0[xXbBoO]/.test(t.image) ? 'write numbers in decimal: 0x10 is 16' : /_/.test(t.image) ? "write digits without '_': 1_000 is 1000" : 'a number is digits, an optional fraction and exponent: 12, 0.5, 1e-3';
    return { code: 'bad-number', message: `'${shown}' is not a number`, hint, as: NumberLiteral };
  }
  if (t.tokenType === BadName) {
    return { code: 'bad-name', message: `a name cannot end with '-' (got '${shown}')`, hint: "'-' joins the parts of a name (UR-LSTM); an arrow is '->'", as: Identifier };
  }
  if (t.tokenType === NumberLiteral) {
    const n = Number(t.image);
    if (!Number.isFinite(n)) return { code: 'bad-number', message: `${shown} is out of range: numbers are finite, below about 1.8e308`, as: NumberLiteral };
    if (/^-?[0-9]+$/.test(t.image) && Math.abs(n) > MAX_SAFE) {
      return { code: 'bad-number', message: `${shown} is too large for a whole number (at most ${MAX_SAFE})`, as: NumberLiteral };
    }
  }
  return undefined;
}

/**
 * Parse .rnn source: lexing, parsing (with recovery) and CST → AST. Returns the AST —
 * best effort when there are syntax errors — and every lexical and syntax diagnostic.
 */
export function parse(source: string, opts: { file?: string } = {}): { ast?: SpecAST; diagnostics: Diagnostic[] } {
  const file = opts.file ?? DEFAULT_FILE;
  const diagnostics: Diagnostic[] = [];
  const damaged: Span[] = [];
  const lexed = lexer.tokenize(source);
  // A byte-order mark is no column: editors start line 1 after it.
  const bom = source.startsWith('\ufeff');
  if (bom) unshiftBom([...lexed.tokens, ...(lexed.groups.comments ?? []), ...(lexed.groups.stray ?? [])], lexed.errors);

  const strays = [...lexed.errors.map((e) => ({ offset: e.offset, length: e.length, line: e.line ?? 1, column: e.column ?? 1 })),
    ...(lexed.groups.stray ?? []).map((t) => ({ offset: t.startOffset, length: t.image.length, line: t.startLine ?? 1, column: t.startColumn ?? 1 }))];
  for (const e of strays) {
    const text = source.slice(e.offset, e.offset + e.length);
    const { line, column } = e;
    const span = { line, column, endLine: line, endColumn: column + e.length, start: e.offset, end: e.offset + e.length };
    damaged.push(span);
    const what = text.length === 1 ? `character ${JSON.stringify(text)}` : `characters ${clip(JSON.stringify(text))}`;
    const hint = text.startsWith('-') ? "'-' joins the parts of a name (UR-LSTM) and starts '->'" : "names use letters, digits, '_' and '-'; comments start with '#'";
    diagnostics.push(diagnostic(file, span, 'stray-character', `unexpected ${what}`, hint));
  }
  for (const t of lexed.tokens) {
    const problem = tokenProblem(t);
    if (!problem) continue;
    damaged.push(tokenSpan(t));
    diagnostics.push(diagnostic(file, tokenSpan(t), problem.code, problem.message, problem.hint));
    // Parse on as if the token were well formed, to find the errors after it.
    t.tokenType = problem.as;
    t.tokenTypeIdx = problem.as.tokenTypeIdx!;
  }

  // Brackets nest the grammar's rules: refuse deep nesting before it can exhaust the stack,
  // and a flood of tokens before the parser spends seconds on it. Nothing else is checked then.
  const deep = tooDeep(lexed.tokens);
  const flood = lexed.tokens[MAX_TOKENS];
  if (deep || flood) {
    const all = { line: 1, column: 1, endLine: Number.MAX_SAFE_INTEGER, endColumn: 1, start: 0, end: source.length + 1 };
    diagnostics.push(deep
      ? diagnostic(file, tokenSpan(deep), 'too-deep', `brackets nest deeper than ${MAX_NESTING} levels here`, 'flatten the value; no option needs this depth')
      : diagnostic(file, tokenSpan(flood), 'too-large', `the file has more than ${MAX_TOKENS.toLocaleString('en-US')} tokens; this is the next one`, 'a spec is a few lines: is this the right file?'));
    return { ast: assemble(file, source, [], [], [...damaged, all]), diagnostics: sortDiagnostics(diagnostics) };
  }

  parser.input = lexed.tokens;
  const cst = parser.spec();
  const broken = [...damaged];
  for (const e of parser.errors) {
    const span = errorSpan(e, lexed.tokens, source);
    // A broken string or stray character is reported once, as such, not again as an unexpected token.
    if (broken.some((d) => touches(d, span))) continue;
    damaged.push(span);
    diagnostics.push(diagnostic(file, span, 'syntax', e.message));
  }

  const statements = (builder.visit(cst) as Statement[] | undefined) ?? [];
  const ast = assemble(file, source, statements, lexed.groups.comments ?? [], damaged);
  diagnostics.push(...structure(file, statements, damaged));
  return { ast, diagnostics: sortDiagnostics(diagnostics) };
}

function assemble(file: string, source: string, statements: Statement[], commentTokens: IToken[], damaged: Span[]): SpecAST {
  const comments: Comment[] = commentTokens.map((t) => ({ text: t.image.slice(1).trimEnd(), span: tokenSpan(t) }));
  const ofKind = <K extends Statement['kind']>(k: K) =>
    statements.filter((s): s is Extract<Statement, { kind: K }> => s.kind === k).map((s) => s.node as Extract<Statement, { kind: K }>['node']);
  return {
    file,
    statements,
    uses: ofKind('use'),
    input: ofKind('input')[0],
    pipeline: ofKind('pipeline').flatMap((p) => p.stages),
    training: ofKind('train')[0],
    comments,
    lines: source.split(/\r\n|\r|\n/).length,
    damaged,
  };
}

/** File-level structure: one pipeline (a second one means a missing '->'), one input, one train block. */
function structure(file: string, statements: Statement[], damaged: Span[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  let prevStage: Stage | undefined;
  const seen = new Set<string>();
  for (const s of statements) {
    if (s.kind === 'pipeline') {
      const first = s.node.stages[0];
      // After a stray character or a syntax error, the "second pipeline" is debris of the first.
      if (prevStage && !damaged.some((d) => touches(d, first.nameSpan))) {
        const [a, b] = [clip(prevStage.name), clip(first.name)];
        out.push(diagnostic(file, first.nameSpan, 'missing-arrow', `missing '->' between '${a}' and '${b}'`, `write '${a} -> ${b}'; a file has one pipeline`));
      }
      prevStage = s.node.stages[s.node.stages.length - 1];
    } else if (s.kind === 'input' || s.kind === 'train') {
      if (seen.has(s.kind)) {
        const what = s.kind === 'input' ? "'input'" : "'train' block";
        out.push(diagnostic(file, s.node.span, `duplicate-${s.kind}`, `a file has at most one ${what}`, 'remove this one or merge it with the first'));
      }
      seen.add(s.kind);
    }
  }
  return out;
}
