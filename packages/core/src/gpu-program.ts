import * as tf from '@tensorflow/tfjs-core';

/**
 * A WGSL compute program run by tfjs-backend-webgpu on its own buffers: tf writes the
 * preamble (one output `result`, inputs named by `variableNames`, a `uniforms` struct with
 * the program's own fields appended) and caches the pipeline by `shaderKey`.
 */
export interface GpuProgram {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  /** Flat: `main(index)` is the entry; programs here read workgroupId / localId instead. */
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  /** Extra uniform fields, e.g. 'T : i32,'. */
  uniforms?: string;
  getUserCode(): string;
}

interface WebGpuBackendApi {
  runWebGPUProgram(program: GpuProgram, inputs: tf.TensorInfo[], dtype: tf.DataType, uniforms?: Array<{ type: 'int32' | 'float32'; data: number[] }>, output?: tf.TensorInfo): tf.TensorInfo;
}

/** Run one program (one dispatch) on webgpu tensors, `ints` filling its `uniforms` fields in order; the result is a new tensor in the current scope. */
export function runGpuProgram(program: GpuProgram, inputs: tf.Tensor[], ints: number[] = []): tf.Tensor {
  const backend = tf.backend() as unknown as WebGpuBackendApi;
  // One entry per scalar: tf lays an entry of n values out as a vecn, aligned as one.
  const info = backend.runWebGPUProgram(program, inputs, 'float32', ints.map((v) => ({ type: 'int32', data: [v] })));
  return tf.engine().makeTensorFromTensorInfo(info);
}

/** Run one program (one dispatch) that updates `output` in place: `output` must be a float32 tensor of the program's outputShape that nothing else shares. */
export function runGpuProgramInto(program: GpuProgram, inputs: tf.Tensor[], output: tf.Tensor, ints: number[] = []): void {
  const backend = tf.backend() as unknown as WebGpuBackendApi;
  backend.runWebGPUProgram(program, inputs, 'float32', ints.map((v) => ({ type: 'int32', data: [v] })), output);
}

/** WGSL helpers shared by the cells' programs: sigmoid and a tanh that stays finite for large |x|. */
export const WGSL_ACTIVATIONS = `
fn sigm(x : f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn tanhs(x : f32) -> f32 { let e = exp(-2.0 * abs(x)); return sign(x) * (1.0 - e) / (1.0 + e); }
`;

/** Threads per workgroup for a row of n units (a power of two, at most 256) and units per thread. */
export function rowThreads(n: number): { threads: number; perThread: number } {
  let threads = 1;
  while (threads < n && threads < 256) threads *= 2;
  return { threads, perThread: Math.ceil(n / threads) };
}
