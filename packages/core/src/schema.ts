import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { CellstackError, clip, closest } from './errors.js';
import type { JsonSchema } from './cell.js';

/** One ajv for all of cellstack: defaults filled in, every error collected, NaN and ±Infinity never numbers. */
const ajv = new Ajv({ useDefaults: true, allErrors: true, strict: false, strictNumbers: true });
const compiled = new WeakMap<object, ValidateFunction>();

function compile(schema: JsonSchema): ValidateFunction {
  let v = compiled.get(schema);
  if (!v) {
    v = ajv.compile(schema);
    compiled.set(schema, v);
  }
  return v;
}

/** Compile a schema once, throwing (with `what` named) if the schema itself is invalid. */
export function checkSchema(schema: JsonSchema, what: string): void {
  try {
    compile(schema);
  } catch (e) {
    throw new CellstackError(what, `invalid JSON schema: ${(e as Error).message}`);
  }
}

/** A value as a message shows it: at most ~80 characters, non-finite numbers by name (JSON would say null). */
const fmt = (v: unknown): string => {
  if (typeof v === 'string') return `'${clip(v)}'`;
  if (typeof v === 'number' || v === undefined) return String(v);
  return clip(JSON.stringify(v) ?? String(v));
};

/** Plain-words description of what a schema allows: "an integer >= 1", "one of 'mean' | 'sum'". */
export function describeSchema(s: JsonSchema | undefined): string {
  if (!s) return 'a valid value';
  if (Array.isArray(s.enum)) return `one of ${s.enum.map(fmt).join(' | ')}`;
  if ('const' in s) return fmt(s.const);
  for (const k of ['oneOf', 'anyOf'] as const) {
    if (Array.isArray(s[k])) return (s[k] as JsonSchema[]).map(describeSchema).join(' or ');
  }
  const types = Array.isArray(s.type) ? (s.type as string[]) : s.type ? [s.type as string] : [];
  if (types.length > 1) return types.map((t) => describeSchema({ ...s, type: t })).join(' or ');
  const t = types[0];
  if (t === 'integer' || t === 'number') {
    const noun = t === 'integer' ? 'an integer' : 'a number';
    const lo = s.minimum as number | undefined;
    // The safe-integer bound every IR integer carries goes without saying.
    const hi = s.maximum === Number.MAX_SAFE_INTEGER ? undefined : (s.maximum as number | undefined);
    const xlo = s.exclusiveMinimum as number | undefined;
    const xhi = s.exclusiveMaximum as number | undefined;
    const from = lo !== undefined ? `[${lo}` : xlo !== undefined ? `(${xlo}` : undefined;
    const to = hi !== undefined ? `${hi}]` : xhi !== undefined ? `${xhi})` : undefined;
    if (from && to) return `${noun} in ${from}, ${to}`;
    const parts: string[] = [];
    if (lo !== undefined) parts.push(`>= ${lo}`);
    if (xlo !== undefined) parts.push(`> ${xlo}`);
    if (hi !== undefined) parts.push(`<= ${hi}`);
    if (xhi !== undefined) parts.push(`< ${xhi}`);
    return [noun, ...parts].join(' ');
  }
  if (t === 'boolean') return 'true or false';
  if (t === 'null') return 'null';
  if (t === 'string') return s.pattern ? `a string matching ${s.pattern}` : 'a string';
  if (t === 'array') {
    if (Array.isArray(s.items)) return `an array [${(s.items as JsonSchema[]).map(describeSchema).join(', ')}]`;
    const items = s.items as JsonSchema | undefined;
    const n = s.minItems !== undefined ? ` (at least ${s.minItems})` : '';
    return `an array${items ? ` of ${plural(describeSchema(items))}` : ''}${n}`;
  }
  if (t === 'object') return 'an object';
  return 'a valid value';
}

/** "an integer >= 1" → "integers >= 1"; other descriptions become "values, each …". */
function plural(one: string): string {
  const m = /^an? (\w+)(.*)$/.exec(one);
  return m && !one.includes(' or ') ? `${m[1]}s${m[2]}` : `values, each ${one}`;
}

/** The sub-schema at a JSON pointer into the data (follows properties / items). */
function subSchema(schema: JsonSchema, pointer: string): JsonSchema | undefined {
  let s: JsonSchema | undefined = schema;
  for (const seg of pointer.split('/').slice(1)) {
    if (!s) return undefined;
    const props = s.properties as Record<string, JsonSchema> | undefined;
    if (props && Object.hasOwn(props, seg)) s = props[seg];
    else if (Array.isArray(s.items) && /^\d+$/.test(seg)) s = (s.items as JsonSchema[])[Number(seg)];
    else if (s.items && /^\d+$/.test(seg)) s = s.items as JsonSchema;
    else return undefined;
  }
  return s;
}

function valueAt(data: unknown, pointer: string): unknown {
  let v: unknown = data;
  for (const seg of pointer.split('/').slice(1)) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, seg)) return undefined;
    v = (v as Record<string, unknown>)[seg];
  }
  return v;
}

/** Data path `a.b[2]` from a base path and an ajv instancePath `/b/2`. */
export function joinPath(base: string, pointer: string): string {
  let p = base;
  for (const seg of pointer.split('/').slice(1)) p += /^\d+$/.test(seg) ? `[${seg}]` : p ? `.${seg}` : seg;
  return p;
}

function toError(schema: JsonSchema, data: unknown, e: ErrorObject, base: string): CellstackError {
  if (e.keyword === 'additionalProperties') {
    const name = (e.params as { additionalProperty: string }).additionalProperty;
    // A `const` property (a layer's `type`) is the object's tag, not an option to choose.
    const props = (subSchema(schema, e.instancePath)?.properties ?? {}) as Record<string, JsonSchema>;
    const allowed = Object.keys(props).filter((k) => !('const' in props[k]));
    const guess = closest(name, allowed);
    return new CellstackError(
      joinPath(base, `${e.instancePath}/${name}`),
      `unknown option '${clip(name)}'; allowed: ${allowed.join(', ') || '(none)'}`,
      guess ? `did you mean '${guess}'?` : undefined,
      'unknown-option',
    );
  }
  if (e.keyword === 'required') {
    const name = (e.params as { missingProperty: string }).missingProperty;
    const want = subSchema(schema, `${e.instancePath}/${name}`);
    return new CellstackError(joinPath(base, `${e.instancePath}/${name}`), `is required: ${describeSchema(want)}`, undefined, 'missing-option');
  }
  const sub = subSchema(schema, e.instancePath);
  if (e.keyword === 'maximum' && (e.params as { limit: number }).limit === Number.MAX_SAFE_INTEGER) {
    return new CellstackError(joinPath(base, e.instancePath), `must be a whole number below 2^53, exactly representable (got ${fmt(valueAt(data, e.instancePath))})`);
  }
  return new CellstackError(
    joinPath(base, e.instancePath),
    `must be ${describeSchema(sub)} (got ${fmt(valueAt(data, e.instancePath))})`,
  );
}

/**
 * Validate `value` against `schema` without throwing: a deep copy with defaults filled
 * in, and every error — one per path, the most specific first (a type error beats the
 * anyOf summary) — each a CellstackError whose path starts at `base`.
 */
export function schemaErrors<T>(schema: JsonSchema, value: unknown, base = ''): { value: T; errors: CellstackError[] } {
  const copy = value === undefined ? {} : structuredClone(value);
  const v = compile(schema);
  if (v(copy)) return { value: copy as T, errors: [] };
  const all = (v.errors ?? []).map((e) => toError(schema, copy, e, base));
  all.sort((a, b) => b.path.length - a.path.length);
  const seen = new Set<string>();
  const errors = all.filter((e) => !seen.has(e.path) && seen.add(e.path));
  return { value: copy as T, errors };
}

/**
 * Validate `value` against `schema`, returning a deep copy with defaults filled in.
 * Throws the first error as a CellstackError whose path starts at `base`; all errors
 * are on `.all` for callers that report several (see schemaErrors).
 */
export function validate<T>(schema: JsonSchema, value: unknown, base = ''): T {
  const { value: out, errors } = schemaErrors<T>(schema, value, base);
  if (!errors.length) return out;
  const first = errors[0];
  (first as CellstackError & { all?: CellstackError[] }).all = errors;
  throw first;
}
