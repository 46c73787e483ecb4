import type * as tf from '@tensorflow/tfjs-core';
import { fusedCall, loadKernel, type FusedResult, type Params, type State } from '@cellstack/core';

const kernel = () => loadKernel(new URL('../kernel/star.wasm', import.meta.url));

/** STAR's whole-layer kernel (kernel/star.c): x [B, T, F] → outputs [B, T, H] and the final h. */
export function starFused(official: boolean) {
  return (x: tf.Tensor3D, { h }: State, p: Params): FusedResult => {
    const [B, T, F] = x.shape;
    const H = h.shape[1];
    const n = B * H;
    const [out, hT] = fusedCall([x, p.kernel, p.recurrent, p.bias, h], [[B, T, H], [B, H]], {
      forward([xv, Wk, U, bias, h0]) {
        const k = kernel();
        k.reset();
        const args = [xv, Wk, U, bias, h0].map((a) => k.put(a));
        const [o, last, xp, s, hs] = [T * n, n, 2 * T * n, T * n, T * n].map((size) => k.alloc(size));
        k.call('star_forward', T, B, F, H, +official, ...args, o, last, xp, s, hs);
        return {
          outputs: [k.read(o, T * n), k.read(last, n)],
          saved: [k.read(xp, 2 * T * n), k.read(s, T * n), k.read(hs, T * n)],
        };
      },
      backward([xv, Wk, U, , h0], saved, [dout, dhT]) {
        const k = kernel();
        k.reset();
        const args = [xv, Wk, U, h0, ...saved, dout, dhT].map((a) => k.put(a));
        const sizes = [B * T * F, F * 2 * H, H * H, 2 * H, n];
        const grads = sizes.map((size) => k.alloc(size));
        k.call('star_backward', T, B, F, H, +official, ...args, ...grads, k.alloc(2 * T * n + n + H * H + 2 * F * H));
        return grads.map((g, i) => k.read(g, sizes[i]));
      },
    });
    return { output: out as tf.Tensor3D, state: { h: hT as tf.Tensor2D } };
  };
}
