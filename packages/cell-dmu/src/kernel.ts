import type * as tf from '@tensorflow/tfjs-core';
import { fusedCall, keepSafe, loadKernel, type FusedResult, type Params, type State } from '@cellstack/core';
import type { CandidateActivation, HiddenActivation } from './dmu.js';

const url = new URL('../kernel/dmu.wasm', import.meta.url);
const kernel = () => loadKernel(url);

/** Activation codes of kernel/dmu.c. */
const hiddenCode: Record<HiddenActivation, number> = { leakyRelu: 0, relu: 1, tanh: 2, sigmoid: 3, linear: 4 };
const candidateCode: Record<CandidateActivation, number> = { tanh: 0, sigmoid: 1, softsign: 2, linear: 3 };

/** The C side reads the widths as int32: their bytes travel through a float buffer unchanged. */
const int32Bits = (values: number[]) => new Float32Array(Int32Array.from(values).buffer);

/**
 * DMU's whole-layer kernel (kernel/dmu.c) for an FNN block of `widths` (c_1 … c_n = 2d):
 * x [B, T, F] → outputs [B, T, d] and the final h. The parameters go in packed, in the
 * cell's order, and their gradients come back the same way.
 */
export function dmuFused(widths: number[], activation: HiddenActivation, candidate: CandidateActivation) {
  const n = widths.length;
  const names = ['kernel1_x', 'kernel1_h', 'bias1', ...widths.slice(1).flatMap((_, i) => [`kernel${i + 2}`, `bias${i + 2}`])];
  const codes = [n, hiddenCode[activation], candidateCode[candidate]];
  return (x: tf.Tensor3D, { h }: State, p: Params): FusedResult => {
    const [B, T, F] = x.shape;
    const d = h.shape[1];
    const TB = T * B;
    const paramSizes = names.map((name) => p[name].size);
    const nParams = paramSizes.reduce((a, b) => a + b, 0);
    const sumWidths = widths.reduce((a, b) => a + b, 0);
    const savedSize = TB * (d + sumWidths);
    const pack = (arrays: Float32Array[]) => {
      const all = new Float32Array(nParams);
      let at = 0;
      for (const a of arrays) {
        all.set(a, at);
        at += a.length;
      }
      return all;
    };
    const inputs = [x, ...names.map((name) => p[name]), h];
    const [out, hT] = fusedCall(inputs, [[B, T, d], [B, d]], {
      forward(xs, { saving }) {
        const k = kernel();
        k.reset();
        // dmu_forward writes all three in full; the saved values stay in kernel memory for the backward pass where that is safe (keep() comes first).
        const saved = keepSafe(saving) ? k.keep(savedSize, true) : k.scratch(savedSize);
        const args = [int32Bits(widths), xs[0], pack(xs.slice(1, -1)), xs[xs.length - 1]].map((a) => k.put(a));
        const [o, last] = [TB * d, B * d].map((size) => k.scratch(size));
        k.call('dmu_forward', T, B, F, d, ...codes, ...args, o, last, saved);
        return { outputs: [k.output(o, TB * d), k.output(last, B * d)], saved: saving ? k.saved(saved, savedSize) : undefined };
      },
      backward(xs, saved, [dout, dhT]) {
        const k = kernel();
        k.reset();
        const args = [int32Bits(widths), xs[0], pack(xs.slice(1, -1)), xs[xs.length - 1], saved, dout, dhT].map((a) => k.put(a));
        const [dx, dparams, dh0] = [TB * F, nParams, B * d].map((size) => k.alloc(size));
        const transposed = d * widths[0] + widths.slice(1).reduce((s, c, i) => s + widths[i] * c, 0);
        const work = k.scratch(TB * sumWidths + B * d + transposed + F * widths[0]); // written before read
        k.call('dmu_backward', T, B, F, d, ...codes, ...args, dx, dparams, dh0, work);
        const flat = k.read(dparams, nParams);
        let at = 0;
        const dps = paramSizes.map((size) => flat.subarray(at, (at += size)));
        return [k.read(dx, TB * F), ...dps, k.read(dh0, B * d)];
      },
    });
    return { output: out as tf.Tensor3D, state: { h: hT as tf.Tensor2D } };
  };
}
