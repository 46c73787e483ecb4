import * as tf from '@tensorflow/tfjs-core';
import { createRuntime, fusedKernelsActive, nativeKernels, type BackendChoice, type Runtime } from '@cellstack/core';

/** The first-party cell packages the CLI registers (each exports `cells`). */
export const CELL_PACKAGES = ['@cellstack/cell-nru', '@cellstack/cell-ur', '@cellstack/cell-star', '@cellstack/cell-rru', '@cellstack/cell-dmu'];

export interface CliRuntime {
  runtime: Runtime;
  /** Packages whose cells were registered. */
  loaded: string[];
  /** Packages that could not be loaded, with the reason (not installed or not built). */
  missing: Array<{ pkg: string; reason: string }>;
}

/**
 * A runtime with the core baselines and every first-party cell package that can be
 * imported. A package that is absent (or not built) is skipped, not fatal: `cellstack
 * cells` lists it as missing and a spec that needs its cells gets the DSL's diagnostic.
 */
export async function cliRuntime(backend: BackendChoice = 'auto'): Promise<CliRuntime> {
  // Production mode: no debug checks, and no console banners from tfjs in the user's terminal.
  tf.enableProdMode();
  const runtime = await createRuntime({ backend });
  const loaded: string[] = [];
  const missing: CliRuntime['missing'] = [];
  for (const pkg of CELL_PACKAGES) {
    try {
      const mod = (await import(pkg)) as { cells?: unknown[] };
      if (!Array.isArray(mod.cells)) throw new Error('it exports no `cells` list');
      for (const plugin of mod.cells) runtime.use(plugin as never);
      loaded.push(pkg);
    } catch (e) {
      missing.push({ pkg, reason: (e as Error).message.split('\n')[0] });
    }
  }
  return { runtime, loaded, missing };
}

/** Which recurrent path runs (for the log and run.json): fused kernels and where their products run, or the step loop. */
export function kernelPath(): { fused: boolean; native: string | null; threads: number; text: string } {
  const native = nativeKernels();
  const fused = fusedKernelsActive();
  const products = native.active ? `native (${native.isa}, ${native.threads} thread${native.threads > 1 ? 's' : ''})` : `in wasm (native addon: ${native.isa.replace(/^none: /, '')})`;
  const threads = fused && native.active ? native.threads : 1;
  return { fused, native: fused && native.active ? native.isa : null, threads, text: fused ? `fused, products ${products}` : 'generic step loop (CELLSTACK_FUSED=0 or a GPU backend)' };
}
