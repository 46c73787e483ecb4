import * as tf from '@tensorflow/tfjs-core';
import type { FusedResult, Params, State } from '../cell.js';
import { fusedCall, keepSafe, loadKernel, viewsSafe, zeros } from '../kernel.js';

const url = new URL('../../kernel/simple-rnn.wasm', import.meta.url);
const kernel = () => loadKernel(url);

/** SimpleRNN's whole-layer kernel (kernel/simple-rnn.c): x [B, T, F] → outputs [B, T, H] and the final h. */
export function simpleRnnFused(x: tf.Tensor3D, { h }: State, p: Params): FusedResult {
  const [B, T, F] = x.shape;
  const H = h.shape[1];
  const n = B * H;
  const [out] = fusedCall([x, p.kernel, p.recurrent, p.bias, h], [[B, T, H]], {
    forward([xv, W, U, bias, h0], { saving }) {
      const [o] = kernel().run('simple_rnn_forward', [T, B, F, H], [xv, W, U, bias, h0], [T * n, n], { written: true, read: 1, views: viewsSafe(saving), keep: keepSafe(saving) }); // the projection fills out
      // Backward needs only the outputs (every h_t).
      return { outputs: [o], saved: o };
    },
    backward([xv, W, U, , h0], out, [dout]) {
      const grads = [B * T * F, F * H, H * H, H, n];
      return kernel().run('simple_rnn_backward', [T, B, F, H], [xv, W, U, h0, out, dout, zeros(n)], grads, { scratch: [T * n + n + H * H + H * F], scratchWritten: true });
    },
  });
  // The final state is the last output: one output tensor spares packing all outputs into one and slicing them back.
  return { output: out as tf.Tensor3D, state: { h: tf.reshape(tf.slice(out, [0, T - 1, 0], [B, 1, H]), [B, H]) } };
}
