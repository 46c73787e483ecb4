import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { createRuntime, fusedKernelsActive, gpuKernelsActive, nativeKernels, type BackendChoice, type Runtime } from '@cellstack/core';

/** The first-party cell packages the CLI registers (each exports `cells`). */
export const CELL_PACKAGES = ['@cellstack/cell-nru', '@cellstack/cell-ur', '@cellstack/cell-star', '@cellstack/cell-rru', '@cellstack/cell-dmu'];

export interface CliRuntime {
  runtime: Runtime;
  /** Packages whose cells were registered. */
  loaded: string[];
  /** Packages that could not be loaded, with the reason (not installed or not built). */
  missing: Array<{ pkg: string; reason: string }>;
}

/** Third-party plugin packages (names or file paths, comma-separated) from CELLSTACK_PLUGINS. */
export const pluginPackages = (): string[] =>
  (process.env.CELLSTACK_PLUGINS ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);

/**
 * What to import for a package: a path is taken from the working directory; a plugin's name is
 * resolved from the working directory's node_modules (the user's project), else from the CLI's own.
 */
function pluginUrl(pkg: string): string {
  if (/^(\.|\/|[A-Za-z]:\\)/.test(pkg)) return pathToFileURL(path.resolve(pkg)).href;
  if (CELL_PACKAGES.includes(pkg)) return pkg;
  try {
    return pathToFileURL(createRequire(path.join(process.cwd(), 'package.json')).resolve(pkg)).href;
  } catch {
    return pkg;
  }
}

/**
 * A runtime with the core baselines, every first-party cell package that can be imported and
 * the plugins named in CELLSTACK_PLUGINS. A package that is absent (or not built) is skipped,
 * not fatal: `cellstack cells` lists it as missing and a spec that needs its cells gets the
 * DSL's diagnostic.
 */
/** The first-party packages each CLI runtime has registered: a spec's `use` of one imports nothing more. */
const preloaded = new WeakMap<Runtime, string[]>();
export const preloadedOf = (runtime: Runtime): string[] => preloaded.get(runtime) ?? [];

export async function cliRuntime(backend: BackendChoice = 'auto'): Promise<CliRuntime> {
  // Production mode: no debug checks, and no console banners from tfjs in the user's terminal.
  tf.enableProdMode();
  const runtime = await createRuntime({ backend });
  const loaded: string[] = [];
  const missing: CliRuntime['missing'] = [];
  for (const pkg of [...CELL_PACKAGES, ...pluginPackages()]) {
    try {
      const mod = (await import(pluginUrl(pkg))) as { cells?: unknown[] };
      if (!Array.isArray(mod.cells)) throw new Error('it exports no `cells` list');
      for (const plugin of mod.cells) runtime.use(plugin as never);
      loaded.push(pkg);
    } catch (e) {
      missing.push({ pkg, reason: (e as Error).message.split('\n')[0] });
    }
  }
  preloaded.set(runtime, loaded);
  return { runtime, loaded, missing };
}

/**
 * Whether whole-sequence kernels may run (for the log and run.json), where their products
 * run and on how many threads; which kernel each layer takes (hand-written, traced, or the
 * step loop and why) is known once it ran: see layerPaths.
 */
export function kernelPath(): { fused: boolean; native: string | null; threads: number; text: string } {
  const native = nativeKernels();
  const fused = fusedKernelsActive();
  const products = native.active ? `native (${native.isa}, ${native.threads} thread${native.threads > 1 ? 's' : ''})` : `in wasm (native addon: ${native.isa.replace(/^none: /, '')})`;
  const threads = fused && native.active ? native.threads : 1;
  return { fused, native: fused && native.active ? native.isa : null, threads, text: fused ? `whole-sequence (per layer below), products ${products}` : gpuKernelsActive() ? 'WGSL kernels (LSTM hand-written, the others emitted from their traced step), the generic step loop where a step does not trace' : 'generic step loop (CELLSTACK_FUSED=0 or a GPU backend)' };
}
