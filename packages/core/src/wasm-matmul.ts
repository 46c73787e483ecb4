import * as tf from '@tensorflow/tfjs-core';

let patched = false;

/**
 * tfjs-backend-wasm multiplies 10–20× slower when `transposeA`/`transposeB` is set
 * than when the operand is transposed first (research/perf-notes.md, finding 3), and
 * every matmul gradient sets one of them. Re-register its BatchMatMul kernel to
 * transpose explicitly, then multiply without flags: same values, a fraction of the time.
 */
export function patchWasmMatMul(): void {
  if (patched) return;
  const matmul = tf.getKernel('BatchMatMul', 'wasm');
  const transpose = tf.getKernel('Transpose', 'wasm');
  if (!matmul || !transpose) return;
  patched = true;
  const swapLast = (t: tf.TensorInfo, backend: object) => {
    const perm = t.shape.map((_, i) => i);
    [perm[perm.length - 1], perm[perm.length - 2]] = [perm[perm.length - 2], perm[perm.length - 1]];
    return transpose.kernelFunc({ inputs: { x: t }, backend, attrs: { perm } }) as tf.TensorInfo;
  };
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel({
    ...matmul,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
      if (!transposeA && !transposeB) return matmul.kernelFunc({ inputs, backend, attrs });
      const temps: tf.TensorInfo[] = [];
      const a = transposeA ? swapLast(inputs.a!, backend) : inputs.a!;
      const b = transposeB ? swapLast(inputs.b!, backend) : inputs.b!;
      if (transposeA) temps.push(a);
      if (transposeB) temps.push(b);
      const out = matmul.kernelFunc({ inputs: { a, b }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } });
      for (const t of temps) (backend as tf.KernelBackend).disposeData(t.dataId);
      return out;
    },
  });
}
