import * as tf from '@tensorflow/tfjs-core';
import { replaceWasmKernel, type WasmBackend } from './heap.js';

type Flat = Float32Array | Int32Array | Uint8Array;

/**
 * tfjs-backend-wasm's Slice copies its whole input out of the wasm heap into a fresh
 * array before taking the slice (tfjs 4.22), so every tf.slice / tf.split costs a full
 * copy of the input plus page faults — on a [B, T, H] sequence, one per step of the
 * generic loop and one per state read off a fused kernel's output. Re-register it to
 * copy only the slice, straight from the heap: same values, same shapes.
 */
export function patchWasmSlice(): boolean {
  return replaceWasmKernel('Slice', (original) => (args) => {
    const x = args.inputs.x!;
    const backend = args.backend as unknown as WasmBackend;
    if (x.dtype === 'string' || x.shape.length === 0 || typeof backend.typedArrayFromHeap !== 'function') return original(args);
    const { begin, size } = args.attrs as unknown as { begin: number | number[]; size?: number | number[] };
    const [b, s] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
    // Allocate first: a growing heap would detach views taken before.
    const out = backend.makeOutput(s, x.dtype);
    if (s.some((n) => n === 0)) return out;
    copySlice(backend.typedArrayFromHeap(x), x.shape, b, s, backend.typedArrayFromHeap(out));
    return out;
  });
}

/**
 * Copy the block at `begin` of extent `size` from a row-major `src` of `shape`, one contiguous
 * run at a time: trailing axes taken whole merge into the run (a batch slice of [B, T, F] is one
 * copy, not B·T copies of F floats).
 */
function copySlice(src: Flat, shape: number[], begin: number[], size: number[], dst: Flat): void {
  let rank = shape.length;
  while (rank > 1 && size[rank - 1] === shape[rank - 1]) {
    shape = [...shape.slice(0, rank - 2), shape[rank - 2] * shape[rank - 1]];
    begin = [...begin.slice(0, rank - 2), begin[rank - 2] * size[rank - 1]];
    size = [...size.slice(0, rank - 2), size[rank - 2] * size[rank - 1]];
    rank--;
  }
  const strides = tf.util.computeStrides(shape);
  const run = size[rank - 1];
  const outer = size.slice(0, -1);
  const idx = new Array<number>(rank - 1).fill(0);
  const rows = outer.reduce((a, n) => a * n, 1);
  for (let r = 0, at = 0; r < rows; r++, at += run) {
    let off = begin[rank - 1];
    for (let d = 0; d < rank - 1; d++) off += (begin[d] + idx[d]) * strides[d];
    dst.set(src.subarray(off, off + run), at);
    for (let d = rank - 2; d >= 0; d--) {
      if (++idx[d] < outer[d]) break;
      idx[d] = 0;
    }
  }
}
