import * as tf from '@tensorflow/tfjs-core';
import type { CellContext, CellDefinition, CellPlugin } from './cell.js';
import { CellLayer } from './cell-layer.js';
import { CellstackError } from './errors.js';
import { checkSchema, schemaErrors, validate } from './schema.js';

const NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;

/** Is a class with this name already known to tf's serialisation map? */
function isRegistered(className: string): boolean {
  const map = tf.serialization.SerializationMap.getMap() as unknown as { classNameMap: Record<string, unknown> };
  return className in map.classNameMap;
}

/**
 * Define a cell plugin — one object per cell, in the spirit of typescript-eslint's
 * createRule. Checks the definition (name, schema, defaults valid against the schema),
 * then registers a layer class `cellstack.<name>` with tf serialisation so saved models
 * load after the plugin is imported. Registration is idempotent: if two copies of a
 * plugin are imported, the first registration stays.
 */
export function defineCell<O extends object>(def: CellDefinition<O>): CellPlugin<O> {
  if (!def || typeof def !== 'object') throw new CellstackError('', 'defineCell needs a definition object');
  if (typeof def.name !== 'string' || !NAME.test(def.name)) {
    throw new CellstackError('name', `must be a letter followed by letters, digits, '_' or '-' (got ${JSON.stringify(def.name)})`);
  }
  const where = `cell ${def.name}`;
  if (typeof def.create !== 'function') throw new CellstackError(`${where}.create`, 'must be a function');
  const s = def.schema as unknown as Record<string, unknown>;
  if (!s || s.type !== 'object' || s.additionalProperties !== false || typeof s.properties !== 'object') {
    throw new CellstackError(`${where}.schema`, "must be an object schema with 'properties' and additionalProperties: false");
  }
  checkSchema(def.schema, `${where}.schema`);
  for (const p of def.positional ?? []) {
    if (!(p in def.schema.properties)) throw new CellstackError(`${where}.positional`, `'${p}' is not an option in the schema`);
  }

  const className = `cellstack.${def.name}`;
  const plugin: CellPlugin<O> = {
    ...def,
    kind: 'cellstack-cell',
    className,
    resolveOptions(options: unknown, path = 'options', ctx?: CellContext): O {
      if (options === null || typeof options !== 'object' || Array.isArray(options)) {
        throw new CellstackError(path, `must be an object of ${def.name} options`);
      }
      const full = validate<O>(def.schema, options, path);
      const problem = ctx && def.validate?.(full, ctx);
      if (problem) throw new CellstackError(problem.path ? `${path}.${problem.path}` : path, problem.message);
      return full;
    },
  };
  // The defaults themselves must satisfy the schema (they may still need required options).
  const bad = schemaErrors(def.schema, {}, `${where}.schema defaults`).errors.find((e) => e.code !== 'missing-option');
  if (bad) throw bad;

  const layerClass = class extends CellLayer {
    static className = className;
    static override plugin = plugin as CellPlugin;
  };
  Object.defineProperty(plugin, 'layerClass', { value: layerClass, enumerable: false });
  if (!isRegistered(className)) tf.serialization.registerClass(layerClass);
  return plugin;
}

/** The layer class that serialises a plugin's cell (created by defineCell). */
export function layerClassOf(plugin: CellPlugin): new (args?: ConstructorParameters<typeof CellLayer>[0]) => CellLayer {
  return (plugin as unknown as { layerClass: new () => CellLayer }).layerClass;
}
