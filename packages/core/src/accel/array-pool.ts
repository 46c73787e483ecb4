import * as tf from '@tensorflow/tfjs-core';
import type { WasmBackend } from './heap.js';
import { heapReads } from './index.js';

/*
 * Float32Arrays reused across fused-kernel calls. A fresh multi-megabyte array costs
 * page faults on first touch — about 40× the copy into a warm one (tools/bench, DMU W1:
 * a quarter of the step) — and the shapes repeat every training step.
 */
const free = new Map<number, Float32Array[]>();
const issued = new WeakSet<Float32Array>();
const pooled = new WeakSet<Float32Array>();
let pooledBytes = 0;
const MAX_POOLED_BYTES = 256 * 2 ** 20;

/** An array of n floats (contents unspecified), from the pool when one is free. */
export function takeArray(n: number): Float32Array {
  const a = free.get(n)?.pop();
  if (a) {
    pooled.delete(a);
    pooledBytes -= a.byteLength;
    return a;
  }
  const fresh = new Float32Array(n);
  issued.add(fresh);
  return fresh;
}

/** Return arrays nothing references any more; arrays the pool did not hand out are ignored. */
export function recycleArrays(arrays: Iterable<Float32Array>): void {
  for (const a of arrays) {
    if (!issued.has(a) || pooled.has(a) || pooledBytes + a.byteLength > MAX_POOLED_BYTES) continue;
    pooled.add(a);
    pooledBytes += a.byteLength;
    const list = free.get(a.length);
    if (list) list.push(a);
    else free.set(a.length, [a]);
  }
}

/** Whether tensors created from an array copy it at once (wasm); others keep the array itself. */
export function backendCopiesOnWrite(): boolean {
  return tf.getBackend() === 'wasm';
}

/** The tensor's floats in place on the wasm backend's heap (the patches on), else undefined. */
function heapFloats(t: tf.Tensor): Float32Array | undefined {
  return heapReads() && t.dtype === 'float32' ? ((tf.backend() as unknown as WasmBackend).typedArrayFromHeap(t) as Float32Array) : undefined;
}

/**
 * A tensor's float data as a pooled copy. On the wasm backend with the patches on it is
 * copied straight from the backend's heap (dataSync would allocate a fresh array);
 * elsewhere dataSync's own array is returned, which the pool never takes back.
 */
export function tensorData(t: tf.Tensor): Float32Array {
  const heap = heapFloats(t);
  if (!heap) return t.dataSync() as Float32Array;
  const a = takeArray(t.size);
  a.set(heap);
  return a;
}

/**
 * A tensor's float data to copy elsewhere at once: on the wasm backend with the patches on, a view of
 * the backend's heap (no copy), valid only until tfjs next allocates (its heap may grow and move);
 * elsewhere as tensorData.
 */
export function tensorView(t: tf.Tensor): Float32Array {
  return heapFloats(t) ?? tensorData(t);
}

/** Tensors' room on the wasm heap that a kernel writes in place (heapOutputs). */
export interface HeapOutputs {
  /** Per shape, a view of its room: valid until tfjs next allocates (its heap may grow and move). */
  views: Float32Array[];
  /** The tensor whose room `view` is, without a copy (each once). */
  tensor(view: Float32Array): tf.Tensor;
  /** Free the room no tensor was made of (a failed pass). */
  free(): void;
}

/**
 * Room for float32 tensors of these shapes on the wasm backend's heap (the patches on), else undefined:
 * a kernel writes them in place there, and they become tensors with no copy.
 */
export function heapOutputs(shapes: number[][]): HeapOutputs | undefined {
  if (!heapReads() || shapes.length === 0) return undefined;
  const backend = tf.backend() as unknown as WasmBackend;
  const infos = shapes.map((shape) => backend.makeOutput(shape, 'float32'));
  // Views only after every allocation: one may grow the heap and detach earlier views.
  const views = infos.map((t) => backend.typedArrayFromHeap(t) as Float32Array);
  const made = new Set<number>();
  return {
    views,
    tensor(view) {
      const i = views.indexOf(view);
      made.add(i);
      return tf.engine().makeTensorFromTensorInfo(infos[i]);
    },
    free: () => infos.forEach((t, i) => made.has(i) || backend.disposeData(t.dataId)),
  };
}
