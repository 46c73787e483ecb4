import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';

/** The parts of tfjs-backend-wasm (4.x) that cellstack's replacement kernels use. */
export interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: object): boolean;
  incRef(dataId: object): void;
  /** How many tensors (and backend-internal holders) share the data of dataId. */
  refCount(dataId: object): number;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
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
  const bytes = readFileSync(new URL(`../../kernel/${file}`, import.meta.url));
  const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
  return { backend, exports: new wasm.Instance(new wasm.Module(bytes), { env: { memory } }).exports };
}

/** A tensor's byte address on the wasm heap. */
export const heapAddress = (backend: WasmBackend, t: tf.TensorInfo): number => backend.dataIdMap.get(t.dataId)!.memoryOffset;

type KernelFunc = NonNullable<ReturnType<typeof tf.getKernel>>['kernelFunc'];

type KernelConfig = NonNullable<ReturnType<typeof tf.getKernel>>;
const originals = new Map<string, KernelConfig>();

/**
 * Re-register the wasm backend's kernel `name` as `make(original)`, which may hand calls
 * it does not cover back to the original. False when the kernel is not registered.
 */
export function replaceWasmKernel(name: string, make: (original: KernelFunc) => KernelFunc): boolean {
  const config = tf.getKernel(name, 'wasm');
  if (!config) return false;
  if (!originals.has(name)) originals.set(name, config);
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({ ...config, kernelFunc: make(config.kernelFunc) });
  return true;
}

/** Put tfjs's own kernels back in place of every replacement. */
export function restoreWasmKernels(): void {
  for (const [name, config] of originals) {
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(config);
  }
  originals.clear();
}
