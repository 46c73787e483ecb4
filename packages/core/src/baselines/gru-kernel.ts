import type * as tf from '@tensorflow/tfjs-core';
import type { FusedResult, Params, State } from '../cell.js';
import { fusedCall, loadKernel } from '../kernel.js';

const kernel = () => loadKernel(new URL('../../kernel/gru.wasm', import.meta.url));

/** GRU's whole-layer kernel (kernel/gru.c): x [B, T, F] → outputs [B, T, H] and the final h. */
export function gruFused(x: tf.Tensor3D, { h }: State, p: Params): FusedResult {
  const [B, T, F] = x.shape;
  const H = h.shape[1];
  const n = B * H;
  const [out, hT] = fusedCall([x, p.kernel, p.recurrentGates, p.recurrentCandidate, p.bias, h], [[B, T, H], [B, H]], {
    forward([xv, W, Ug, Uc, bias, h0], { saving }) {
      const [o, last, a] = kernel().run('gru_forward', [T, B, F, H], [xv, W, Ug, Uc, bias, h0], [T * n, n, 3 * T * n], {
        read: saving ? 3 : 2,
        written: true, // the projection fills a; every step writes h
      });
      // Backward reads h_t from the outputs themselves.
      return { outputs: [o, last], saved: saving ? [o, a] : undefined };
    },
    backward([xv, W, Ug, Uc, , h0], saved, [dout, dhT]) {
      const grads = [B * T * F, F * 3 * H, H * 2 * H, H * H, 3 * H, n];
      return kernel().run('gru_backward', [T, B, F, H], [xv, W, Ug, Uc, h0, ...saved, dout, dhT], grads, { scratch: [3 * n + 3 * H * H + 3 * F * H + (T - 1) * n] });
    },
  });
  return { output: out as tf.Tensor3D, state: { h: hT as tf.Tensor2D } };
}
