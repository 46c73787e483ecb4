import type { Arg, Comment, Span, Stage, Statement, Value } from './ast.js';
import { DEFAULT_FILE, DslError, hasErrors } from './diagnostics.js';
import { parse } from './visitor.js';

const INDENT = '  ';
/** A one-line pipeline longer than this is broken into one stage per line. */
const MAX_LINE = 100;

export function printValue(v: Value): string {
  switch (v.kind) {
    case 'number':
      return v.raw;
    case 'string':
      return JSON.stringify(v.value);
    case 'boolean':
      return String(v.value);
    case 'null':
      return 'null';
    case 'ident':
      return v.name;
    case 'array':
      return `[${v.items.map(printValue).join(', ')}]`;
    case 'call':
      return `${v.name}(${printArgs(v.args)})`;
  }
}

const printArgs = (args: Arg[]) => args.map((a) => (a.name !== undefined ? `${a.name}: ${printValue(a.value)}` : printValue(a.value))).join(', ');

/** `STAR(64) x4`; empty parentheses are dropped. */
const printStage = (s: Stage) => `${s.name}${s.args?.length ? `(${printArgs(s.args)})` : ''}${s.repeat ? ` ${s.repeat.raw}` : ''}`;

/** A printable unit that comments attach to: a one-line statement, a stage, a train line. */
interface Item {
  span: Span;
  leading: Comment[];
  trailing: Comment[];
}
const item = (span: Span): Item => ({ span, leading: [], trailing: [] });

/**
 * Attach each comment to an item: inside an item or after it on the same line → trailing;
 * otherwise leading of the next item; after everything → the file's tail.
 */
function attach(items: Item[], comments: Comment[]): Comment[] {
  const tail: Comment[] = [];
  for (const c of comments) {
    const inside = items.find((it) => it.span.start <= c.span.start && c.span.start < it.span.end);
    if (inside) {
      inside.trailing.push(c);
      continue;
    }
    const prev = [...items].reverse().find((it) => it.span.end <= c.span.start);
    if (prev && prev.span.endLine === c.span.line) {
      prev.trailing.push(c);
      continue;
    }
    const next = items.find((it) => it.span.start >= c.span.end);
    (next ? next.leading : tail).push(c);
  }
  return tail;
}

const trailingText = (it: Item) => (it.trailing.length ? ` # ${it.trailing.map((c) => c.text.trim()).join(' # ')}` : '');
const commentLine = (c: Comment, indent = '') => `${indent}#${c.text.length && !c.text.startsWith(' ') ? ' ' : ''}${c.text}`;

/**
 * Canonical pretty-printing: statements in source order, single blank lines kept
 * between them, pipelines on one line unless written over several (then one stage per
 * line, `  -> stage`), train entries one per line, comments kept. Idempotent:
 * format(format(s)) === format(s). Throws DslError if the source has errors.
 */
export function format(source: string, opts: { file?: string } = {}): string {
  const { ast, diagnostics } = parse(source, { file: opts.file ?? DEFAULT_FILE });
  if (!ast || hasErrors(diagnostics)) throw new DslError(diagnostics);

  // Items per statement, in source order.
  const perStatement = ast.statements.map((s: Statement) => {
    switch (s.kind) {
      case 'use':
      case 'input':
        return [item(s.node.span)];
      case 'pipeline':
        return s.node.stages.map((st) => item(st.span));
      case 'train':
        return [item(s.node.openSpan), ...s.node.entries.map((e) => item(e.span)), ...(s.node.closeSpan ? [item(s.node.closeSpan)] : [])];
    }
  });
  const tail = attach(perStatement.flat(), ast.comments);

  const lines: string[] = [];
  let lastLine: number | undefined;
  /** A top-level line from source line `from`..`to`; one blank line where the source had any. */
  const top = (text: string, from: number, to = from) => {
    if (lastLine !== undefined && from - lastLine > 1) lines.push('');
    lines.push(text);
    lastLine = to;
  };
  const endLine = (it: Item) => Math.max(it.span.endLine, ...it.trailing.map((c) => c.span.line));

  ast.statements.forEach((s, i) => {
    const items = perStatement[i];
    for (const c of items[0].leading) top(commentLine(c), c.span.line);
    const last = items[items.length - 1];
    const from = items[0].span.line;
    const to = endLine(last);
    switch (s.kind) {
      case 'use':
        return top(`use ${JSON.stringify(s.node.package)}${trailingText(items[0])}`, from, to);
      case 'input': {
        const n = s.node;
        return top(`input ${n.dtype ? `${n.dtype.name} ` : ''}[${n.timestepsRaw}, ${n.featuresRaw}]${trailingText(items[0])}`, from, to);
      }
      case 'pipeline': {
        const stages = s.node.stages;
        const inner = items.some((it, k) => (k > 0 && it.leading.length) || (k < items.length - 1 && it.trailing.length));
        const oneLine = stages.map(printStage).join(' -> ');
        if (!inner && stages[0].span.line === last.span.endLine && oneLine.length <= MAX_LINE) {
          return top(`${oneLine}${trailingText(last)}`, from, to);
        }
        top(`${printStage(stages[0])}${trailingText(items[0])}`, from);
        stages.slice(1).forEach((st, k) => {
          const it = items[k + 1];
          for (const c of it.leading) lines.push(commentLine(c, INDENT));
          lines.push(`${INDENT}-> ${printStage(st)}${trailingText(it)}`);
        });
        lastLine = to;
        return;
      }
      case 'train': {
        const n = s.node;
        const hasInner = items.slice(1).some((it) => it.leading.length || it.trailing.length) || items[0].trailing.length;
        if (!n.entries.length && !hasInner) return top('train {}', from, to);
        top(`train {${trailingText(items[0])}`, from);
        n.entries.forEach((e, k) => {
          const it = items[k + 1];
          for (const c of it.leading) lines.push(commentLine(c, INDENT));
          lines.push(`${INDENT}${e.key}: ${printValue(e.value)}${trailingText(it)}`);
        });
        const close = items[n.entries.length + 1];
        for (const c of close?.leading ?? []) lines.push(commentLine(c, INDENT));
        lines.push(`}${close ? trailingText(close) : ''}`);
        lastLine = to;
        return;
      }
    }
  });
  for (const c of tail) top(commentLine(c), c.span.line);
  return lines.length ? `${lines.join('\n')}\n` : '';
}
