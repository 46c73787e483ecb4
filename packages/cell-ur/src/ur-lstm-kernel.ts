import type * as tf from '@tensorflow/tfjs-core';
import { fusedCall, keepSafe, loadKernel, type FusedResult, type Params, type State } from '@cellstack/core';
import { kernelVariant, projectionBias, zoneoutMasks, type GateLayout } from './gates.js';

const url = new URL('../kernel/urlstm.wasm', import.meta.url);
const kernel = () => loadKernel(url);

/** URLSTM's whole-layer kernel (kernel/urlstm.c): x [B, T, F] → outputs [B, T, H] and the final h, c. */
export function urlstmFused(g: GateLayout, zc: number, zh: number, seed: () => number) {
  const variant = kernelVariant(g);
  return (x: tf.Tensor3D, { h, c }: State, p: Params, { training }: { training: boolean }): FusedResult => {
    const [B, T, F] = x.shape;
    const H = g.units;
    const G = g.width + 2 * H;
    const n = B * H;
    const [mc, mh] = training ? zoneoutMasks([zc, zh], T, B, H, seed) : [];
    const bias = projectionBias(g, p, G);
    const [out, hT, cT] = fusedCall([x, p.kernel, p.recurrent, bias, h, c], [[B, T, H], [B, H], [B, H]], {
      forward([xv, Wk, U, b, h0, c0], { saving }) {
        const k = kernel();
        k.reset();
        // Not zero-filled (~8 MB a pass): the projection fills acts, every step its rows of cs and hs, and the row work before it is read.
        // The saved ones stay in kernel memory for the backward pass where that is safe (keep() comes first).
        const [acts, cs, hs] = [T * B * G, T * n, T * n].map((size) => (keepSafe(saving) ? k.keep(size, true) : k.scratch(size)));
        const args = [xv, Wk, U, b, h0, c0].map((a) => k.put(a));
        const masks = [mc, mh].map((m) => (m ? k.put(m) : 0));
        const [o, lastH, lastC] = [T * n, n, n].map((size) => k.scratch(size));
        k.call('urlstm_forward', T, B, F, H, ...variant, zc, zh, ...args, ...masks, o, lastH, lastC, acts, cs, hs, k.scratch(11 * H));
        return {
          outputs: [k.output(o, T * n), k.output(lastH, n), k.output(lastC, n)],
          saved: saving ? [k.saved(acts, T * B * G), k.saved(cs, T * n), k.saved(hs, T * n)] : undefined,
        };
      },
      backward([xv, Wk, U, , h0, c0], saved, [dout, dhT, dcT]) {
        const k = kernel();
        k.reset();
        const args = [xv, Wk, U, h0, c0].map((a) => k.put(a));
        const masks = [mc, mh].map((m) => (m ? k.put(m) : 0));
        const rest = [...saved, dout, dhT, dcT].map((a) => k.put(a));
        const sizes = [B * T * F, F * G, H * G, G, n, n];
        const grads = sizes.map((size) => k.alloc(size));
        const work = k.alloc(T * B * G + 2 * n + G * H + F * G + 11 * H);
        k.call('urlstm_backward', T, B, F, H, ...variant, zc, zh, ...args, ...masks, ...rest, ...grads, work);
        return grads.map((gr, i) => k.read(gr, sizes[i]));
      },
    });
    return { output: out as tf.Tensor3D, state: { h: hT as tf.Tensor2D, c: cT as tf.Tensor2D } };
  };
}
