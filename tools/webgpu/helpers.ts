/** Shared by the webgpu test project: every cell, backend switching, asynchronous reads. */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { baselineCells, initialState, runSequence, selectBackend, setFusedKernels, type BackendChoice, type CellPlugin, type Params } from '@cellstack/core';
import { buildCell, randomTensor } from '@cellstack/core/testing';
import { cells as dmu } from '@cellstack/cell-dmu';
import { cells as nru } from '@cellstack/cell-nru';
import { cells as rru } from '@cellstack/cell-rru';
import { cells as star } from '@cellstack/cell-star';
import { cells as ur } from '@cellstack/cell-ur';

export const ALL_CELLS: CellPlugin[] = [...baselineCells, ...nru, ...ur, ...star, ...rru, ...dmu];

/** The cell's size option (its first positional one: 'units'; NRU: 'hidden'). */
export const sizeOption = (plugin: CellPlugin) => plugin.positional?.[0] ?? 'units';

/**
 * Switch backends within the process. By default cpu and webgpu run the generic step loop,
 * so both compute the same function op by op; `kernels` turns the fused (wasm) or GPU
 * (webgpu) kernels on. wasm keeps its fused kernels.
 */
export async function useBackend(name: Extract<BackendChoice, 'webgpu' | 'cpu' | 'wasm'>, { kernels = name === 'wasm' } = {}): Promise<void> {
  await selectBackend(name);
  setFusedKernels(kernels);
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

/** Outputs, final states and all gradients of a fixed random projection of both. */
export async function cellResults(
  backend: 'webgpu' | 'cpu',
  plugin: CellPlugin,
  { kernels = false, B = 2, T = 3, F = 3, H = 4 }: { kernels?: boolean; B?: number; T?: number; F?: number; H?: number } = {},
): Promise<Record<string, Float32Array>> {
  await useBackend(backend, { kernels });
  const built = buildCell(plugin, { [sizeOption(plugin)]: H }, { inputSize: F, seed: 3 });
  const x = tf.tidy(() => tf.variable(randomTensor([B, T, F], 11) as tf.Tensor3D, true));
  // A non-zero initial state, so its gradient and its use are both exercised.
  const init: Record<string, tf.Variable<tf.Rank.R2>> = tf.tidy(() => {
    const s0 = initialState(built.cell, B, built.params as Params);
    return Object.fromEntries(Object.entries(s0).map(([k, v], i) => [k, tf.variable(tf.add(v, tf.mul(0.3, randomTensor(v.shape, 20 + i))) as tf.Tensor2D, true)]));
  });
  const probe: Record<string, tf.Tensor> = {};
  const { value, grads } = tf.variableGrads(() => {
    const r = runSequence(built.cell, built.params as Params, x, { training: false, returnSequences: true, initialState: init });
    probe.output = tf.keep(r.output);
    for (const [k, v] of Object.entries(r.state)) probe[`state.${k}`] = tf.keep(v);
    let loss = tf.sum(tf.mul(r.output, randomTensor(r.output.shape, 31)));
    Object.values(r.state).forEach((v, i) => (loss = tf.add(loss, tf.sum(tf.mul(v, randomTensor(v.shape, 40 + i))))));
    return loss as tf.Scalar;
  }, [x, ...Object.values(built.params), ...Object.values(init)]);
  value.dispose();
  // Gradients by role (variable names are process-unique): x, each parameter, each initial state.
  const names = new Map<string, string>([[x.name, 'x'], ...Object.entries(built.params).map(([k, v]): [string, string] => [v.name, k]), ...Object.entries(init).map(([k, v]): [string, string] => [v.name, `state.${k}`])]);
  const out = await readAll({ ...probe, ...Object.fromEntries(Object.entries(grads).map(([k, g]) => [`grad.${names.get(k)}`, g])) });
  tf.dispose([x, ...Object.values(init)]);
  built.dispose();
  return out;
}

/**
 * A cell's GPU kernel against its generic step loop, both on webgpu: outputs, final states
 * and every gradient within 5e-6 + 1e-5·|generic|, and no tensor left behind by the kernel.
 */
export async function expectKernelMatchesGeneric(plugin: CellPlugin, shape: { B?: number; T?: number; F?: number; H?: number }): Promise<void> {
  const generic = await cellResults('webgpu', plugin, shape);
  const before = tf.memory().numTensors;
  const kernel = await cellResults('webgpu', plugin, { ...shape, kernels: true });
  expect(tf.memory().numTensors).toBe(before);
  expect(Object.keys(kernel).sort()).toEqual(Object.keys(generic).sort());
  const { ratio, where } = worstRatio(kernel, generic, 5e-6, 1e-5);
  expect(ratio, where).toBeLessThanOrEqual(1);
}
