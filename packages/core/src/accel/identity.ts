import { replaceWasmKernel, type WasmBackend } from './heap.js';

/**
 * tfjs-backend-wasm's Identity copies its input into a new buffer (tfjs 4.22), and the
 * engine runs Identity for every tensor a gradient saves (`tf.clone` in
 * saveTensorsForBackwardMode) — ~30 copies per training step of a fused cell, some of
 * them [T, B, H] sequences. Tensors are immutable, so share the buffer instead, counting
 * the reference as the cpu backend's Identity and wasm's own Reshape do.
 */
export function patchWasmIdentity(): boolean {
  return replaceWasmKernel('Identity', (original) => (args) => {
    const x = args.inputs.x!;
    const backend = args.backend as unknown as WasmBackend;
    if (x.dtype === 'string' || typeof backend.incRef !== 'function') return original(args);
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  });
}
