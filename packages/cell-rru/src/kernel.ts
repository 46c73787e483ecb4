import type * as tf from '@tensorflow/tfjs-core';
import { dropoutThreshold, fusedCall, keepSafe, loadKernel, type FusedResult, type Params, type State } from '@cellstack/core';

const url = new URL('../kernel/rru.wasm', import.meta.url);
const kernel = () => loadKernel(url);

export interface RRUKernelDims {
  /** State size n, output size p, middle width g, ReLU layers L. */
  n: number;
  p: number;
  g: number;
  layers: number;
  /** 0 none, 1 rms, 2 l2 (kernel/rru.c). */
  norm: number;
  sScale: number;
  /** Keep probability of the dropout on d (1: none). */
  keep: number;
  /** Whether a dropout mask covers one step ([T, B, g] masks) or the whole sequence ([B, g]). */
  maskPerStep: boolean;
}

/** kernel/rru.c's drop codes. */
const [DROP_SEQUENCE, DROP_STEP] = [1, 2];

/** Concatenate arrays (the kernel takes the Eq. 2 layers packed). */
function pack(parts: Float32Array[]): Float32Array {
  const all = new Float32Array(parts.reduce((a, v) => a + v.length, 0));
  let at = 0;
  for (const v of parts) {
    all.set(v, at);
    at += v.length;
  }
  return all;
}

/**
 * RRU's whole-layer kernel (kernel/rru.c): x [B, T, m] → outputs [B, T, p] and the final h.
 * `maskSeed()` draws a training call's dropout stream from the generic path's own seed
 * sequence; the kernel then draws core's dropoutMask bits, so both paths drop the same units.
 */
export function rruFused(dims: RRUKernelDims, maskSeed: () => number) {
  const { n, p, g, layers: L, norm, sScale, keep } = dims;
  const threshold = dropoutThreshold(keep);
  const scale = Math.fround(1 / keep);
  const extra = Array.from({ length: L - 1 }, (_, i) => i + 1);
  return (x: tf.Tensor3D, { h }: State, P: Params, { training }: { training: boolean }): FusedResult => {
    const [B, T, m] = x.shape;
    const drop = training && keep < 1 ? (dims.maskPerStep ? DROP_STEP : DROP_SEQUENCE) : 0;
    const dropArgs = [drop, drop ? maskSeed() : 0, threshold, scale];
    const zn = P.Z.size;
    const inputs = [x, P.Wx, P.Wh, P.bj, ...extra.map((k) => P[`Wk${k}`]), ...extra.map((k) => P[`bk${k}`]), P.Wco, P.bco, P.S, P.Z, h];
    // x, Wx, Wh, bj, the packed Wk and bk, Wco, bco, S, Z, h0 from the fusedCall inputs.
    const unpack = (xs: Float32Array[]) => [...xs.slice(0, 4), pack(xs.slice(4, 3 + L)), pack(xs.slice(3 + L, 2 + 2 * L)), ...xs.slice(2 + 2 * L)];
    const dimArgs = [T, B, m, n, p, g, L, norm, sScale, zn];
    const [Bg, Bn] = [B * g, B * n];
    const [out, hT] = fusedCall(inputs, [[B, T, p], [B, n]], {
      forward(xs, { saving }) {
        const k = kernel();
        k.reset();
        const sizes = [T * B * p, Bn, T * Bg, T * B, (L - 1) * T * Bg, T * Bn, T * Bn];
        // rru_forward writes its outputs, saved values and work space before reading them; the saved
        // values stay in kernel memory for the backward pass where that is safe (keep() comes first).
        const saved = sizes.slice(2).map((size) => (keepSafe(saving) ? k.keep(size, true) : k.scratch(size)));
        const args = unpack(xs).map((a) => k.put(a));
        const [o, last] = sizes.slice(0, 2).map((size) => k.scratch(size));
        k.call('rru_forward', ...dimArgs, ...args, ...dropArgs, o, last, ...saved, k.scratch(n + 2 * Bg));
        return {
          outputs: [k.output(o, sizes[0]), k.output(last, Bn)],
          saved: saving ? saved.map((ptr, i) => k.saved(ptr, sizes[i + 2])) : undefined,
        };
      },
      backward(xs, saved, [dout, dhT]) {
        const k = kernel();
        k.reset();
        const [xv, Wx, Wh, , Wk, , Wco, , S, Z, h0] = unpack(xs);
        const args = [xv, Wx, Wh, Wk, Wco, S, Z, h0].map((a) => k.put(a));
        const rest = [...saved, dout, dhT].map((a) => k.put(a));
        const sizes = [B * T * m, m * g, n * g, g, (L - 1) * g * g, (L - 1) * g, g * (n + p), n + p, n, zn, Bn];
        const grads = sizes.map((size) => k.alloc(size));
        const work = T * B * (2 * g + n + p) + Bn + 4 * Bg + 2 * n + 2 * g * n + p * g + (L - 1) * g * g + m * g;
        k.call('rru_backward', ...dimArgs, ...args, ...dropArgs, ...rest, ...grads, k.alloc(work));
        const [dx, dWx, dWh, dbj, dWk, dbk, ...tail] = grads.map((ptr, i) => k.read(ptr, sizes[i]));
        const split = (a: Float32Array, size: number) => extra.map((_, i) => a.subarray(i * size, (i + 1) * size));
        return [dx, dWx, dWh, dbj, ...split(dWk, g * g), ...split(dbk, g), ...tail];
      },
    });
    return { output: out as tf.Tensor3D, state: { h: hT as tf.Tensor2D } };
  };
}
