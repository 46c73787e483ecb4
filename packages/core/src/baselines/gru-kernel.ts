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
    forward([xv, W, Ug, Uc, bias, h0]) {
      const k = kernel();
      k.reset();
      const args = [xv, W, Ug, Uc, bias, h0].map((v) => k.put(v));
      const [o, last, a] = [T * n, n, 3 * T * n].map((size) => k.alloc(size));
      k.call('gru_forward', T, B, F, H, ...args, o, last, a);
      const outputs = [k.read(o, T * n), k.read(last, n)];
      // Backward reads h_t from the outputs themselves.
      return { outputs, saved: [outputs[0], k.read(a, 3 * T * n)] };
    },
    backward([xv, W, Ug, Uc, , h0], saved, [dout, dhT]) {
      const k = kernel();
      k.reset();
      const args = [xv, W, Ug, Uc, h0, ...saved, dout, dhT].map((v) => k.put(v));
      const sizes = [B * T * F, F * 3 * H, H * 2 * H, H * H, 3 * H, n];
      const grads = sizes.map((size) => k.alloc(size));
      k.call('gru_backward', T, B, F, H, ...args, ...grads, k.alloc(3 * n + 3 * H * H + 3 * F * H));
      return grads.map((g, i) => k.read(g, sizes[i]));
    },
  });
  return { output: out as tf.Tensor3D, state: { h: hT as tf.Tensor2D } };
}
