import type * as tf from '@tensorflow/tfjs-core';
import { fusedCall, keepSafe, loadKernel, type FusedResult, type Params, type State } from '@cellstack/core';
import type { NRUOptions } from './nru.js';

const url = new URL('../kernel/nru.wasm', import.meta.url);
const kernel = () => loadKernel(url);

/** Option bits of kernel/nru.c. */
const MEAN = 1;
const XHM = 2;
const RELU = 4;
const LAYER_NORM = 8;

/**
 * NRU's whole-layer kernel (kernel/nru.c): x [B, T, F] → outputs [B, T, H] and the final
 * h and m. `groups` and `r` are the head layout (p and q hold `groups` vectors of size r).
 */
export function nruFused(o: NRUOptions, { groups, r }: { groups: number; r: number }) {
  const { hidden: H, memory: M, heads: k } = o;
  const D = 2 * k + 4 * groups * r;
  const xhm = o.headInputs === 'xhm';
  const Gp = xhm ? H + D : H;
  const opts = (o.headReduce === 'mean' ? MEAN : 0) | (xhm ? XHM : 0) | (o.useRelu ? RELU : 0) | (o.layerNorm ? LAYER_NORM : 0);
  return (x: tf.Tensor3D, { h, m }: State, p: Params): FusedResult => {
    const [B, T, F] = x.shape;
    const dims = [T, B, F, H, M, k, groups, r, opts];
    const ln = o.layerNorm ? [p.lnGain, p.lnBias] : [];
    const [out, hT, mT] = fusedCall([x, p.kernel, p.recurrent, p.memoryKernel, p.bias, p.headKernel, p.headBias, h, m, ...ln], [[B, T, H], [B, H], [B, M]], {
      forward(xs, { saving }) {
        const kr = kernel();
        kr.reset();
        // Kept for the backward pass in kernel memory where that is safe (keep() comes first).
        const savedSizes = [T * B * H, T * B * M, T * B * D, T * B * 2 * k, o.layerNorm ? T * B * H : 0, o.layerNorm ? T * B : 0];
        const saved = savedSizes.map((n) => (keepSafe(saving) ? kr.keep(n) : kr.alloc(n)));
        // Without layer norm, gain and bias are null pointers the kernel never reads.
        const [xv, Wk, U, Wm, bias, Wh, hb, h0, m0, gain = 0, lnb = 0] = xs.map((a) => kr.put(a));
        const [o1, o2, o3] = [T * B * H, B * H, B * M].map((n) => kr.alloc(n));
        const work = kr.alloc(T * B * Gp + B * (H + D) + 2 * k * M + Gp);
        kr.call('nru_forward', ...dims, xv, Wk, U, Wm, bias, Wh, hb, h0, m0, gain, lnb, o1, o2, o3, ...saved, work);
        return {
          outputs: [kr.output(o1, T * B * H), kr.output(o2, B * H), kr.output(o3, B * M)],
          saved: saving ? saved.map((ptr, i) => kr.saved(ptr, savedSizes[i])) : undefined,
        };
      },
      backward([xv, Wk, U, Wm, , Wh, , h0, m0, gain], saved, dys) {
        const kr = kernel();
        kr.reset();
        const args = [xv, Wk, U, Wm, Wh, gain ?? new Float32Array(0), h0, m0, ...saved, ...dys].map((a) => kr.put(a));
        // In input order: x, the six weights, h0, m0, then lnGain and lnBias (null pointers without layer norm).
        const sizes = [B * T * F, F * Gp, H * H, M * (H + D), H, H * D, D, B * H, B * M, ...(o.layerNorm ? [H, H] : [])];
        const grads = sizes.map((n) => kr.alloc(n));
        const work = kr.alloc(T * B * Gp + B * (H + D) + B * H + B * M + H * H + (H + D) * M + D * H + 2 * k * M + Gp + F * Gp);
        kr.call('nru_backward', ...dims, ...args, ...grads, ...(o.layerNorm ? [] : [0, 0]), work);
        return grads.map((g, i) => kr.read(g, sizes[i]));
      },
    });
    return { output: out as tf.Tensor3D, state: { h: hT as tf.Tensor2D, m: mT as tf.Tensor2D } };
  };
}
