/** Shared by the webgpu test project: every cell, backend switching, asynchronous reads. */
import * as tf from '@tensorflow/tfjs-core';
import { baselineCells, selectBackend, setFusedKernels, type BackendChoice, type CellPlugin } from '@cellstack/core';
import { cells as dmu } from '@cellstack/cell-dmu';
import { cells as nru } from '@cellstack/cell-nru';
import { cells as rru } from '@cellstack/cell-rru';
import { cells as star } from '@cellstack/cell-star';
import { cells as ur } from '@cellstack/cell-ur';

export const ALL_CELLS: CellPlugin[] = [...baselineCells, ...nru, ...ur, ...star, ...rru, ...dmu];

/** The cell's size option (its first positional one: 'units'; NRU: 'hidden'). */
export const sizeOption = (plugin: CellPlugin) => plugin.positional?.[0] ?? 'units';

/**
 * Switch backends within the process. The cpu reference runs the generic step loop, the
 * path webgpu takes, so both compute the same function op by op.
 */
export async function useBackend(name: Extract<BackendChoice, 'webgpu' | 'cpu' | 'wasm'>): Promise<void> {
  await selectBackend(name);
  setFusedKernels(name !== 'cpu');
}

/** Read tensors back asynchronously (webgpu under Node has no synchronous readback) and dispose them. */
export async function readAll(ts: Record<string, tf.Tensor>): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  for (const [k, t] of Object.entries(ts)) out[k] = (await t.data()) as Float32Array;
  tf.dispose(Object.values(ts));
  return out;
}

/** Largest |a − b| / (atol + rtol·|b|) over every array; ≤ 1 means within tolerance. */
export function worstRatio(a: Record<string, Float32Array>, b: Record<string, Float32Array>, atol: number, rtol: number): { ratio: number; where: string } {
  let worst = { ratio: 0, where: '' };
  for (const [k, ref] of Object.entries(b)) {
    const got = a[k];
    if (!got || got.length !== ref.length) return { ratio: Infinity, where: `${k}: ${got?.length} values vs ${ref.length}` };
    for (let i = 0; i < ref.length; i++) {
      const r = Math.abs(got[i] - ref[i]) / (atol + rtol * Math.abs(ref[i]));
      if (!(r <= worst.ratio)) worst = { ratio: r, where: `${k}[${i}]: ${got[i]} vs ${ref[i]}` };
    }
  }
  return worst;
}
