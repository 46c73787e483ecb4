import type * as tf from '@tensorflow/tfjs-core';
import { fusedCall, keepSafe, loadKernel, type FusedResult, type Params, type State } from '@cellstack/core';
import { kernelVariant, projectionBias, zoneoutMasks, type GateLayout } from './gates.js';

const url = new URL('../kernel/urgru.wasm', import.meta.url);
const kernel = () => loadKernel(url);

/** URGRU's whole-layer kernel (kernel/urgru.c): x [B, T, F] → outputs [B, T, H] and the final h. */
export function urgruFused(g: GateLayout, zh: number, seed: () => number) {
  const variant = kernelVariant(g);
  return (x: tf.Tensor3D, { h }: State, p: Params, { training }: { training: boolean }): FusedResult => {
    const [B, T, F] = x.shape;
    const H = g.units;
    const Ng = g.width + H;
    const G = Ng + H;
    const n = B * H;
    const [mh] = training ? zoneoutMasks([zh], T, B, H, seed) : [];
    const bias = projectionBias(g, p, G);
    const [out, hT] = fusedCall([x, p.kernel, p.recurrentGates, p.recurrentCandidate, bias, h], [[B, T, H], [B, H]], {
      forward([xv, Wk, Ug, Uc, b, h0], { saving }) {
        const k = kernel();
        k.reset();
        // The saved values stay in kernel memory for the backward pass where that is safe (keep() comes first).
        const [acts, hs] = [T * B * G, T * n].map((size) => (keepSafe(saving) ? k.keep(size) : k.alloc(size)));
        const args = [xv, Wk, Ug, Uc, b, h0].map((a) => k.put(a));
        const mask = mh ? k.put(mh) : 0;
        const [o, last] = [T * n, n].map((size) => k.alloc(size));
        k.call('urgru_forward', T, B, F, H, ...variant, zh, ...args, mask, o, last, acts, hs, k.alloc(n + 9 * H));
        return { outputs: [k.output(o, T * n), k.output(last, n)], saved: saving ? [k.saved(acts, T * B * G), k.saved(hs, T * n)] : undefined };
      },
      backward([xv, Wk, Ug, Uc, , h0], saved, [dout, dhT]) {
        const k = kernel();
        k.reset();
        const args = [xv, Wk, Ug, Uc, h0].map((a) => k.put(a));
        const mask = mh ? k.put(mh) : 0;
        const rest = [...saved, dout, dhT].map((a) => k.put(a));
        const sizes = [B * T * F, F * G, H * Ng, H * H, G, n];
        const grads = sizes.map((size) => k.alloc(size));
        const work = k.alloc(T * B * G + 3 * n + Ng * H + H * H + F * G + 9 * H);
        k.call('urgru_backward', T, B, F, H, ...variant, zh, ...args, mask, ...rest, ...grads, work);
        return grads.map((gr, i) => k.read(gr, sizes[i]));
      },
    });
    return { output: out as tf.Tensor3D, state: { h: hT as tf.Tensor2D } };
  };
}
