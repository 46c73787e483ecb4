import * as tf from '@tensorflow/tfjs-core';
import type { FusedResult, Params, State } from '../cell.js';
import { fusedCall, keepSafe, loadKernel, viewsSafe, zeros } from '../kernel.js';

const url = new URL('../../kernel/gru.wasm', import.meta.url);
const kernel = () => loadKernel(url);

/** GRU's whole-layer kernel (kernel/gru.c): x [B, T, F] → outputs [B, T, H] and the final h. */
export function gruFused(x: tf.Tensor3D, { h }: State, p: Params): FusedResult {
  const [B, T, F] = x.shape;
  const H = h.shape[1];
  const n = B * H;
  const [out] = fusedCall([x, p.kernel, p.recurrentGates, p.recurrentCandidate, p.bias, h], [[B, T, H]], {
    forward([xv, W, Ug, Uc, bias, h0], { saving }) {
      const [o, , a] = kernel().run('gru_forward', [T, B, F, H], [xv, W, Ug, Uc, bias, h0], [T * n, n, 3 * T * n], {
        read: saving ? 3 : 1,
        views: viewsSafe(saving),
        keep: keepSafe(saving),
        written: true, // the projection fills a; every step writes h
      });
      // Backward reads h_t from the outputs themselves.
      return { outputs: [o], saved: saving ? [o, a] : undefined };
    },
    backward([xv, W, Ug, Uc, , h0], saved, [dout]) {
      const grads = [B * T * F, F * 3 * H, H * 2 * H, H * H, 3 * H, n];
      return kernel().run('gru_backward', [T, B, F, H], [xv, W, Ug, Uc, h0, ...saved, dout, zeros(n)], grads, { scratch: [3 * n + 3 * H * H + 3 * F * H + (T - 1) * n], scratchWritten: true });
    },
  });
  // The final state is the last output: one output tensor spares packing all outputs into one and slicing them back.
  return { output: out as tf.Tensor3D, state: { h: tf.reshape(tf.slice(out, [0, T - 1, 0], [B, 1, H]), [B, H]) } };
}
