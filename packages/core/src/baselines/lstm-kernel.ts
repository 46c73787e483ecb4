import type * as tf from '@tensorflow/tfjs-core';
import type { FusedResult, Params, State } from '../cell.js';
import { fusedCall, keepSafe, loadKernel, viewsSafe } from '../kernel.js';

const kernel = () => loadKernel(new URL('../../kernel/lstm.wasm', import.meta.url));

/** LSTM's whole-layer kernel (kernel/lstm.c): x [B, T, F] → outputs [B, T, H] and the final h and c. */
export function lstmFused(x: tf.Tensor3D, { h, c }: State, p: Params): FusedResult {
  const [B, T, F] = x.shape;
  const H = h.shape[1];
  const n = B * H;
  const [out, hT, cT] = fusedCall([x, p.kernel, p.recurrent, p.bias, h, c], [[B, T, H], [B, H], [B, H]], {
    forward([xv, W, U, bias, h0, c0], { saving }) {
      const [o, lastH, lastC, a, cs] = kernel().run('lstm_forward', [T, B, F, H], [xv, W, U, bias, h0, c0], [T * n, n, n, 4 * T * n, T * n], {
        read: saving ? 5 : 3,
        views: viewsSafe(saving),
        keep: keepSafe(saving),
        scratch: [(F + 1 + H) * 4 * H],
        written: true, // the projection fills a, [Wk; bias; U] its scratch; every step writes c and h
      });
      // Backward reads h_t from the outputs themselves.
      return { outputs: [o, lastH, lastC], saved: saving ? [o, a, cs] : undefined };
    },
    backward([xv, W, U, , h0, c0], saved, [dout, dhT, dcT]) {
      const grads = [B * T * F, F * 4 * H, H * 4 * H, 4 * H, n, n];
      return kernel().run('lstm_backward', [T, B, F, H], [xv, W, U, h0, c0, ...saved, dout, dhT, dcT], grads, { scratch: [2 * n + 4 * H * H + 4 * F * H + T * B * (H + F + 1) + (H + F + 1) * 4 * H], scratchWritten: true });
    },
  });
  return { output: out as tf.Tensor3D, state: { h: hT as tf.Tensor2D, c: cT as tf.Tensor2D } };
}
