import type * as tf from '@tensorflow/tfjs-core';
import type { FusedResult, Params, State } from '../cell.js';
import { fusedCall, loadKernel } from '../kernel.js';

const kernel = () => loadKernel(new URL('../../kernel/janet.wasm', import.meta.url));

/** JANET's whole-layer kernel (kernel/janet.c): x [B, T, F] → outputs [B, T, H] and the final h. */
export function janetFused(beta: number) {
  return (x: tf.Tensor3D, { h }: State, p: Params): FusedResult => {
    const [B, T, F] = x.shape;
    const H = h.shape[1];
    const n = B * H;
    const [out, hT] = fusedCall([x, p.kernel, p.recurrent, p.bias, h], [[B, T, H], [B, H]], {
      forward([xv, W, U, bias, h0]) {
        const k = kernel();
        k.reset();
        const args = [xv, W, U, bias, h0].map((a) => k.put(a));
        const [o, last, z] = [T * n, n, 2 * T * n].map((size) => k.alloc(size));
        k.call('janet_forward', T, B, F, H, beta, ...args, o, last, z);
        const outputs = [k.read(o, T * n), k.read(last, n)];
        // z = [s | tanh(z_c)] per step, and every h_t (the outputs).
        return { outputs, saved: [k.read(z, 2 * T * n), outputs[0]] };
      },
      backward([xv, W, U, , h0], saved, [dout, dhT]) {
        const k = kernel();
        k.reset();
        const args = [xv, W, U, h0, ...saved, dout, dhT].map((a) => k.put(a));
        const sizes = [B * T * F, F * 2 * H, 2 * H * H, 2 * H, n];
        const grads = sizes.map((size) => k.alloc(size));
        k.call('janet_backward', T, B, F, H, beta, ...args, ...grads, k.alloc(2 * T * n + n + 2 * H * H + 2 * H * F));
        return grads.map((g, i) => k.read(g, sizes[i]));
      },
    });
    return { output: out as tf.Tensor3D, state: { h: hT as tf.Tensor2D } };
  };
}
