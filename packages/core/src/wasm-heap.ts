import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';

/** The parts of tfjs-backend-wasm (4.x) that heap modules use. */
export interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: object): boolean;
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  wasm?: { asm?: { memory?: unknown } };
}

type WasmApi = { Instance: new (m: object, i: object) => { exports: Record<string, unknown> }; Module: new (b: Uint8Array) => object };

/**
 * The exports of kernel/<file> (built from C with --import-memory, see
 * tools/kernels/build.mjs) instantiated on tfjs-backend-wasm's own linear memory, so it
 * reads and writes tensors where they live; undefined when the wasm backend is not loaded.
 */
export function loadHeapModule(file: string): { backend: WasmBackend; exports: Record<string, unknown> } | undefined {
  const backend = tf.findBackend('wasm') as unknown as WasmBackend | undefined;
  const memory = backend?.wasm?.asm?.memory;
  if (!backend || !memory) return undefined;
  const bytes = readFileSync(new URL(`../kernel/${file}`, import.meta.url));
  const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
  return { backend, exports: new wasm.Instance(new wasm.Module(bytes), { env: { memory } }).exports };
}

/** A tensor's byte address on the wasm heap. */
export const heapAddress = (backend: WasmBackend, t: tf.TensorInfo): number => backend.dataIdMap.get(t.dataId)!.memoryOffset;
