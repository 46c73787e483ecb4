import type { Arg, Span, Value } from './ast.js';

/** A value as plain JSON: names become strings (`activation: softmax` → 'softmax'). Calls have no plain form. */
export function plainValue(v: Value): { ok: true; value: unknown } | { ok: false; span: Span; name: string } {
  switch (v.kind) {
    case 'number':
    case 'string':
    case 'boolean':
      return { ok: true, value: v.value };
    case 'null':
      return { ok: true, value: null };
    case 'ident':
      return { ok: true, value: v.name };
    case 'array': {
      const items: unknown[] = [];
      for (const item of v.items) {
        const r = plainValue(item);
        if (!r.ok) return r;
        items.push(r.value);
      }
      return { ok: true, value: items };
    }
    case 'call':
      return { ok: false, span: v.span, name: v.name };
  }
}

/** The span of the value at `indices` inside a (nested) array value, or the closest enclosing one. */
export function spanAt(arg: Arg, indices: number[]): Span {
  let v: Value = arg.value;
  for (const i of indices) {
    if (v.kind !== 'array' || !v.items[i]) break;
    v = v.items[i];
  }
  return v.span;
}
