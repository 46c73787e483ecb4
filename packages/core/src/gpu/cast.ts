import * as tf from '@tensorflow/tfjs-core';
import type { GpuProgram } from '../gpu-program.js';

interface CastBackend {
  runWebGPUProgram(program: GpuProgram & { size: boolean }, inputs: tf.TensorInfo[], dtype: tf.DataType): tf.TensorInfo;
}

const WORKGROUP = 64;

/** int32/bool → float32 over a flat index; tf's input accessor converts the element to f32. */
function toFloat(shape: number[]): GpuProgram & { size: boolean } {
  const size = shape.reduce((a, b) => a * b, 1);
  return {
    variableNames: ['A'],
    outputShape: shape,
    shaderKey: 'cellstack_to_float32',
    dispatchLayout: { x: shape.map((_, i) => i) },
    dispatch: [Math.ceil(size / WORKGROUP), 1, 1],
    workgroupSize: [WORKGROUP, 1, 1],
    size: true,
    getUserCode: () => `
      fn main(index : i32) {
        if (index < uniforms.size) { setOutputAtIndex(index, getAByOutputIndex(index)); }
      }`,
  };
}

/**
 * tfjs-backend-webgpu 4.22 casts int32 and bool to float32 by relabelling the tensor, leaving an
 * i32 buffer under a float32 dtype; its programs that index such a raw input (Transpose) then
 * fail to compile ("expected 'f32', got 'i32'"), e.g. on `cast(oneHot(…), 'float32')`. This
 * cast writes a float32 buffer instead; every other cast stays tf's. Idempotent.
 */
export function installWebGpuCast(): void {
  const tfCast = tf.getKernel('Cast', 'webgpu');
  if (!tfCast || (tfCast.kernelFunc as { cellstack?: true }).cellstack) return;
  const kernelFunc: tf.KernelFunc & { cellstack?: true } = (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    const float = (args.attrs as { dtype: tf.DataType }).dtype === 'float32' && (x.dtype === 'int32' || x.dtype === 'bool');
    if (!float) return tfCast.kernelFunc(args);
    return (args.backend as unknown as CastBackend).runWebGPUProgram(toFloat(x.shape), [x], 'float32');
  };
  kernelFunc.cellstack = true;
  tf.unregisterKernel('Cast', 'webgpu');
  tf.registerKernel({ ...tfCast, kernelFunc });
}
