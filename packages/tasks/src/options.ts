import { validate, type JsonSchema } from '@cellstack/core';

/** Validate task options against a schema; errors name `task.<option>` and what is allowed. */
export function taskOptions<T>(schema: JsonSchema, options: object | undefined): T {
  const given = Object.fromEntries(Object.entries(options ?? {}).filter(([, v]) => v !== undefined));
  return validate<T>(schema, given, 'task');
}

export const integer = (minimum: number, description: string, def?: number): JsonSchema =>
  def === undefined ? { type: 'integer', minimum, description } : { type: 'integer', minimum, default: def, description };

/** One-hot encode `symbol` of `depth` at `offset` of `out`. */
export const oneHot = (out: Float32Array, offset: number, depth: number, symbol: number) => {
  out[offset * depth + symbol] = 1;
};
