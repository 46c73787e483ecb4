import * as tf from '@tensorflow/tfjs-core';
import type { FusedResult, Params, State } from '../cell.js';
import { fusedCall, keepSafe, loadKernel, viewsSafe, zeros } from '../kernel.js';

const url = new URL('../../kernel/janet.wasm', import.meta.url);
const kernel = () => loadKernel(url);

/** JANET's whole-layer kernel (kernel/janet.c): x [B, T, F] → outputs [B, T, H] and the final h. */
export function janetFused(beta: number) {
  return (x: tf.Tensor3D, { h }: State, p: Params): FusedResult => {
    const [B, T, F] = x.shape;
    const H = h.shape[1];
    const n = B * H;
    const [out] = fusedCall([x, p.kernel, p.recurrent, p.bias, h], [[B, T, H]], {
      forward([xv, W, U, bias, h0], { saving }) {
        const [o, , z] = kernel().run('janet_forward', [T, B, F, H, beta], [xv, W, U, bias, h0], [T * n, n, 2 * T * n], { read: saving ? 3 : 1, written: true, views: viewsSafe(saving), keep: keepSafe(saving) }); // the projection fills z, every step its rows of out
        // z = [s | tanh(z_c)] per step, and every h_t (the outputs).
        return { outputs: [o], saved: saving ? [z, o] : undefined };
      },
      backward([xv, W, U, , h0], saved, [dout]) {
        const grads = [B * T * F, F * 2 * H, 2 * H * H, 2 * H, n];
        return kernel().run('janet_backward', [T, B, F, H, beta], [xv, W, U, h0, ...saved, dout, zeros(n)], grads, { scratch: [2 * T * n + n + 2 * H * H + 2 * H * F], scratchWritten: true });
      },
    });
    // The final state is the last output (see simple-rnn-kernel.ts).
    return { output: out as tf.Tensor3D, state: { h: tf.reshape(tf.slice(out, [0, T - 1, 0], [B, 1, H]), [B, H]) } };
  };
}
