import type * as tf from '@tensorflow/tfjs-core';
import type { FusedResult, Params, State } from '../cell.js';
import { fusedCall, loadKernel } from '../kernel.js';

const kernel = () => loadKernel(new URL('../../kernel/simple-rnn.wasm', import.meta.url));

/** SimpleRNN's whole-layer kernel (kernel/simple-rnn.c): x [B, T, F] → outputs [B, T, H] and the final h. */
export function simpleRnnFused(x: tf.Tensor3D, { h }: State, p: Params): FusedResult {
  const [B, T, F] = x.shape;
  const H = h.shape[1];
  const n = B * H;
  const [out, hT] = fusedCall([x, p.kernel, p.recurrent, p.bias, h], [[B, T, H], [B, H]], {
    forward([xv, W, U, bias, h0]) {
      const k = kernel();
      k.reset();
      const args = [xv, W, U, bias, h0].map((a) => k.put(a));
      const [o, last] = [T * n, n].map((size) => k.alloc(size));
      k.call('simple_rnn_forward', T, B, F, H, ...args, o, last);
      const outputs = [k.read(o, T * n), k.read(last, n)];
      // Backward needs only the outputs (every h_t).
      return { outputs, saved: outputs[0] };
    },
    backward([xv, W, U, , h0], out, [dout, dhT]) {
      const k = kernel();
      k.reset();
      const args = [xv, W, U, h0, out, dout, dhT].map((a) => k.put(a));
      const sizes = [B * T * F, F * H, H * H, H, n];
      const grads = sizes.map((size) => k.alloc(size));
      k.call('simple_rnn_backward', T, B, F, H, ...args, ...grads, k.alloc(T * n + n + H * H + H * F));
      return grads.map((g, i) => k.read(g, sizes[i]));
    },
  });
  return { output: out as tf.Tensor3D, state: { h: hT as tf.Tensor2D } };
}
