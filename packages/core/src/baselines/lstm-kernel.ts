import type * as tf from '@tensorflow/tfjs-core';
import type { FusedResult, Params, State } from '../cell.js';
import { takeArray } from '../accel/array-pool.js';
import { fusedCall, keepSafe, loadKernel, viewsSafe } from '../kernel.js';

const url = new URL('../../kernel/lstm.wasm', import.meta.url);
const kernel = () => loadKernel(url);

/** LSTM's whole-layer kernel (kernel/lstm.c): x [B, T, F] → outputs [B, T, H] and the final h and c. */
export function lstmFused(x: tf.Tensor3D, { h, c }: State, p: Params): FusedResult {
  const [B, T, F] = x.shape;
  const H = h.shape[1];
  const n = B * H;
  const R = F + 1 + H;
  // lstm.c's host branch (the whole loop on the addon) reads dout and writes out where tfjs keeps them.
  const onAddon = () => kernel().hostRuns(B * 4 * H * H);
  const [out, hT, cT] = fusedCall([x, p.kernel, p.recurrent, p.bias, h, c], [[B, T, H], [B, H], [B, H]], {
    placeOutputs: () => (onAddon() ? [0] : []),
    forward([xv, W, U, bias, h0, c0], { saving, onHeap: [outside] }) {
      // rows: every step's [x_t, 1, h_{t−1}] for the weight gradients when saving, else room for one step's.
      // An output left on tfjs's heap (outside) goes in as a 7th input (C's argument order is the same) and h_T is read off it here.
      const sizes = [...(outside ? [] : [T * n]), outside ? 0 : n, n, 4 * T * n, T * n, saving ? T * B * R : B * R];
      const got = kernel().run('lstm_forward', [T, B, F, H, saving ? 1 : 0, outside ? 1 : 0], outside ? [xv, W, U, bias, h0, c0, outside] : [xv, W, U, bias, h0, c0], sizes, {
        read: (saving ? 6 : 3) - (outside ? 1 : 0),
        views: viewsSafe(saving),
        keep: keepSafe(saving),
        scratch: [R * 4 * H],
        written: true, // the projection fills a, [Wk; bias; U] its scratch; every step writes c, h and its rows
        outside: outside ? [6] : [],
      });
      const [o, lastH, lastC, a, cs, rows] = outside ? [outside, lastStep(outside, [B, T, H]), ...got.slice(1)] : got;
      return { outputs: [o, lastH, lastC], saved: saving ? [rows, a, cs] : undefined };
    },
    backward([, W, U, , , c0], saved, [dout, dhT, dcT], { inputGrad }) {
      const grads = [inputGrad ? B * T * F : 0, F * 4 * H, H * 4 * H, 4 * H, n, n];
      return kernel().run('lstm_backward', [T, B, F, H, inputGrad ? 1 : 0], [W, U, c0, ...saved, dout, dhT, dcT], grads, {
        scratch: [2 * n + 4 * H * H + 4 * F * H + R * 4 * H],
        scratchWritten: true,
        outside: onAddon() ? [6] : [], // dout
      });
    },
  });
  return { output: out as tf.Tensor3D, state: { h: hT as tf.Tensor2D, c: cT as tf.Tensor2D } };
}

/** h_T of out [B, T, H]: each row's last step, into a pooled array. */
function lastStep(out: Float32Array, [B, T, H]: number[]): Float32Array {
  const h = takeArray(B * H);
  for (let b = 0; b < B; b++) h.set(out.subarray((b * T + T - 1) * H, (b * T + T) * H), b * H);
  return h;
}
