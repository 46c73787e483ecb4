import * as tf from '@tensorflow/tfjs-core';
import { fusedCall, keepSafe, loadKernel, viewsSafe, type FusedResult, type Params, type State } from '@cellstack/core';

const url = new URL('../kernel/star.wasm', import.meta.url);
const kernel = () => loadKernel(url);

/** STAR's whole-layer kernel (kernel/star.c): x [B, T, F] → outputs [B, T, H] and the final h. */
export function starFused(official: boolean) {
  return (x: tf.Tensor3D, { h }: State, p: Params): FusedResult => {
    const [B, T, F] = x.shape;
    const H = h.shape[1];
    const n = B * H;
    // One output: the final h is the last step's, sliced below (its gradient joins dout).
    const [out] = fusedCall([x, p.kernel, p.recurrent, p.bias, h], [[B, T, H]], {
      forward([xv, Wk, U, bias, h0], { saving }) {
        // Every output is written in full (the projection fills zs): no zero-filling.
        const [o, , zs] = kernel().run('star_forward', [T, B, F, H, +official], [xv, Wk, U, bias, h0], [T * n, n, 2 * T * n], { read: saving ? 3 : 1, written: true, views: viewsSafe(saving), keep: keepSafe(saving) });
        // Backward reads h_t from the outputs themselves, plus z (after tanh) and the gates.
        return { outputs: [o], saved: saving ? [o, zs] : undefined };
      },
      backward([xv, Wk, U, , h0], saved, [dout]) {
        const grads = [B * T * F, F * 2 * H, H * H, 2 * H, n];
        return kernel().run('star_backward', [T, B, F, H, +official], [xv, Wk, U, h0, ...saved, dout, new Float32Array(n)], grads, { scratch: [2 * T * n + n + H * H + 2 * F * H + (T - 1) * n], scratchWritten: true });
      },
    });
    return { output: out as tf.Tensor3D, state: { h: tf.reshape(tf.slice(out, [0, T - 1, 0], [B, 1, H]), [B, H]) } };
  };
}
