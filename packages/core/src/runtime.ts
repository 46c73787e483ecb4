import type { LayersModel } from '@tensorflow/tfjs-layers';
import { selectBackend, type BackendChoice, type BackendInfo } from './backend.js';
import { baselineCells } from './baselines/index.js';
import { buildLayersModel, resolveIR } from './builder.js';
import { checkIR, findCell, type ResolveOptions } from './check-ir.js';
import type { CellPlugin, OptionsSchema } from './cell.js';
import { CellstackError, type Problem } from './errors.js';
import type { ModelIR } from './ir.js';

export interface RuntimeOptions {
  backend?: BackendChoice;
  /** Register the baseline cells (LSTM, GRU, SimpleRNN, JANET); default true. */
  baselines?: boolean;
  /** Plugins to register straight away. */
  cells?: CellPlugin[];
}

export interface CellInfo {
  name: string;
  description: string;
  schema: OptionsSchema;
  /** Every option's default (options without one are required). */
  defaults: Record<string, unknown>;
  positional: string[];
  source?: CellPlugin['source'];
}

export interface Runtime {
  readonly backend: BackendInfo;
  /** Register a cell plugin; rejects invalid plugins and taken names. */
  use(plugin: CellPlugin): Runtime;
  cells(): CellInfo[];
  cell(name: string): CellPlugin;
  has(name: string): boolean;
  /** Validate an IR against the registered cells and the limits; returns it with all defaults filled in. */
  resolve(ir: unknown, opts?: ResolveOptions): ModelIR;
  /** Every problem of an IR (see checkIR), each with its path and code; empty when it is valid. */
  check(ir: unknown, opts?: ResolveOptions): Problem[];
  /** Build a tf.LayersModel from an IR (resolved first, so nothing is allocated for an invalid one). */
  build(ir: unknown, opts?: ResolveOptions): LayersModel;
}

function checkPlugin(plugin: unknown): asserts plugin is CellPlugin {
  const p = plugin as Partial<CellPlugin> | undefined;
  if (!p || p.kind !== 'cellstack-cell' || typeof p.name !== 'string' || typeof p.create !== 'function') {
    throw new CellstackError('plugin', 'not a cell plugin: create one with defineCell({ name, description, schema, create })');
  }
}

/** A runtime over a fixed set of cells, with the backend already active. */
export function runtimeOf(backend: BackendInfo, options: Omit<RuntimeOptions, 'backend'> = {}): Runtime {
  const registry = new Map<string, CellPlugin>();
  const rt: Runtime = {
    backend,
    use(plugin) {
      checkPlugin(plugin);
      const taken = registry.get(plugin.name);
      if (taken) {
        if (taken === plugin) return rt;
        throw new CellstackError('plugin', `a cell named '${plugin.name}' is already registered (${taken.description}); cannot also register '${plugin.name}' (${plugin.description})`, 'cell names must be unique in a runtime');
      }
      registry.set(plugin.name, plugin);
      return rt;
    },
    cells: () =>
      [...registry.values()].map((p) => {
        // Options without a default are required; list only those that have one.
        const defaults = Object.fromEntries(Object.entries(p.schema.properties).filter(([, s]) => 'default' in s).map(([k, s]) => [k, s.default]));
        return { name: p.name, description: p.description, schema: p.schema, defaults, positional: p.positional ?? [], source: p.source };
      }),
    cell: (name) => findCell(registry, name, 'cell'),
    has: (name) => registry.has(name),
    resolve: (ir, opts) => resolveIR(ir, registry, opts),
    check: (ir, opts) => checkIR(ir, registry, opts),
    build: (ir, opts) => buildLayersModel(resolveIR(ir, registry, opts), registry),
  };
  if (options.baselines ?? true) for (const c of baselineCells) rt.use(c);
  for (const c of options.cells ?? []) rt.use(c);
  return rt;
}

/** Select the backend (see selectBackend) and create a runtime. */
export async function createRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  const backend = await selectBackend(options.backend ?? 'auto');
  return runtimeOf(backend, options);
}
