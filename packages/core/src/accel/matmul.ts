import * as tf from '@tensorflow/tfjs-core';
import { countProduct } from '../products.js';
import { nativeProduct } from '../native.js';
import { heapAddress, loadHeapModule, replaceWasmKernel, type WasmBackend } from './heap.js';

type HeapMatMul = (batch: number, M: number, N: number, K: number, A: number, strideA: number, sa: number, sk: number,
  B: number, strideB: number, C: number, bias: number, relu: number) => void;

/**
 * tfjs-backend-wasm 4.22 multiplies through XNNPACK at 4–20 GFLOP/s on this project's shapes
 * (a dense layer over every step: [3200, 128]·[128, 10]; its gradients) and 10–20× slower
 * again with `transposeA`/`transposeB` set, which every matmul gradient does
 * (research/perf-notes.md, finding 3). Re-register BatchMatMul and _FusedMatMul (bias and
 * linear/ReLU activation) to run kernel/heap-matmul.wasm — cs_matmul, the fused kernels'
 * product — on the backend's own heap: no copies, Aᵀ read in place, only a transposed B
 * transposed first. Anything else (other activations, PReLU, bad shapes, other dtypes)
 * goes to the original kernel, which keeps its own errors.
 */
export function patchWasmMatMul(): boolean {
  const transpose = tf.getKernel('Transpose', 'wasm');
  const heap = loadHeapModule('heap-matmul.wasm');
  if (!tf.getKernel('BatchMatMul', 'wasm') || !tf.getKernel('_FusedMatMul', 'wasm') || !transpose || !heap) return false;
  heapModule = heap.exports;

  const product = (inputs: tf.NamedTensorInfoMap, backend: WasmBackend, attrs: Record<string, unknown>, relu: boolean) => {
    const { a, b, bias } = inputs as Record<string, tf.TensorInfo | undefined>;
    const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
    if (!a || !b || a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return undefined;
    const [ra, rb] = [a.shape.length, b.shape.length];
    const [M, K] = transposeA ? [a.shape[ra - 1], a.shape[ra - 2]] : [a.shape[ra - 2], a.shape[ra - 1]];
    const [Kb, N] = transposeB ? [b.shape[rb - 1], b.shape[rb - 2]] : [b.shape[rb - 2], b.shape[rb - 1]];
    const [outerA, outerB] = [a.shape.slice(0, -2), b.shape.slice(0, -2)];
    const [batchA, batchB] = [tf.util.sizeFromShape(outerA), tf.util.sizeFromShape(outerB)];
    if (K !== Kb || (batchA !== batchB && batchA !== 1 && batchB !== 1)) return undefined;
    if (bias && (bias.dtype !== 'float32' || bias.shape.length !== 1 || bias.shape[0] !== N)) return undefined;
    const outer = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
    const bt = transposeB ? (transpose.kernelFunc({ inputs: { x: b }, backend, attrs: { perm: [...outerB.keys(), rb - 1, rb - 2] } }) as tf.TensorInfo) : b;
    const out = backend.makeOutput([...outer, M, N], 'float32');
    const batch = tf.util.sizeFromShape(outer);
    if (batch * M * N > 0) {
      const at = (t: tf.TensorInfo) => heapAddress(backend, t);
      const [sa, sk, strideA, strideB] = [transposeA ? 1 : K, transposeA ? M : 1, batchA === 1 ? 0 : M * K, batchB === 1 ? 0 : K * N];
      productOnHeap(backend, { batch, M, N, K, A: at(a), strideA, sa, sk, B: at(bt), strideB, C: at(out), relu }, bias);
    }
    if (bt !== b) backend.disposeData(bt.dataId);
    return out;
  };

  replaceWasmKernel('BatchMatMul', (original) => (args) => product(args.inputs, args.backend as unknown as WasmBackend, args.attrs as never, false) ?? original(args));
  replaceWasmKernel('_FusedMatMul', (original) => (args) => {
    const { activation } = args.attrs as { activation?: string };
    const simple = !args.inputs.preluActivationWeights && (activation === 'linear' || activation === 'relu' || activation === undefined);
    return (simple && product(args.inputs, args.backend as unknown as WasmBackend, args.attrs as never, activation === 'relu')) || original(args);
  });
  return true;
}

let heapModule: Record<string, unknown> | undefined;

/** An export of kernel/heap-matmul.wasm on tfjs's heap (the dense head's softmax), once the matmul patch has loaded it. */
export const heapMatMulExport = <F>(name: string): F | undefined => heapModule?.[name] as F | undefined;

/**
 * C = A·B (+ bias rows, then ReLU) on tfjs's heap, counted: through the native addon when
 * the product reaches its threshold, else kernel/heap-matmul.wasm. Only while patchWasmMatMul holds.
 */
export function productOnHeap(backend: WasmBackend, p: Product, bias?: tf.TensorInfo): void {
  const work = p.batch * p.M * p.N * p.K;
  countProduct(work);
  const host = nativeProduct(work);
  if (host) hostProduct(host, backend, p, bias);
  else (heapModule!.heap_matmul as HeapMatMul)(p.batch, p.M, p.N, p.K, p.A, p.strideA, p.sa, p.sk, p.B, p.strideB, p.C, bias ? heapAddress(backend, bias) : 0, p.relu ? 1 : 0);
}

export interface Product {
  batch: number;
  M: number;
  N: number;
  K: number;
  /** Byte addresses on the heap, and strides in floats (batch strides 0: broadcast). */
  A: number;
  strideA: number;
  sa: number;
  sk: number;
  B: number;
  strideB: number;
  C: number;
  relu: boolean;
}

/**
 * The same product through the native addon (256-bit FMA, threads) on tfjs's heap: C starts
 * as the bias rows and accumulates, then ReLU — the rule of heap_matmul.
 */
function hostProduct(host: NonNullable<ReturnType<typeof nativeProduct>>, backend: WasmBackend, p: Product, bias: tf.TensorInfo | undefined) {
  const buffer = (backend.wasm!.asm!.memory as { buffer: ArrayBuffer }).buffer;
  const biasValues = bias && (backend.typedArrayFromHeap(bias) as Float32Array);
  for (let b = 0; b < p.batch; b++) {
    const C = p.C + 4 * b * p.M * p.N;
    const c = new Float32Array(buffer, C, p.M * p.N);
    if (biasValues) fillRows(c, biasValues);
    host(buffer, p.M, p.N, p.K, p.A + 4 * b * p.strideA, p.sa, p.sk, p.B + 4 * b * p.strideB, p.N, C, p.N, biasValues ? 1 : 0);
    if (p.relu) for (let i = 0; i < c.length; i++) if (!(c[i] > 0)) c[i] = 0;
  }
}

/** Every row of c = row: one copy, then doubling copies (a row at a time cost ~1 ms for a dense layer over 3200 steps). */
function fillRows(c: Float32Array, row: Float32Array): void {
  if (c.length === 0) return;
  c.set(row);
  for (let filled = row.length; filled < c.length; filled *= 2) c.copyWithin(filled, 0, Math.min(filled, c.length - filled));
}
