import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { LSTM, NATIVE_MIN_PRODUCT, configure, nativeKernels, productMultiplyAdds, runSequence, setNativeKernels, settings, type Params } from '@cellstack/core';
import { buildCell, randomTensor } from '@cellstack/core/testing';

const env = process.env.CELLSTACK_NATIVE;

describe('native addon switch', () => {
  afterEach(() => setNativeKernels(env !== '0', env === 'all' ? 1 : NATIVE_MIN_PRODUCT));

  it('reports what it uses; CI (CELLSTACK_REQUIRE_NATIVE=1) has it built', () => {
    const n = nativeKernels();
    if (process.env.CELLSTACK_REQUIRE_NATIVE === '1') expect(n.available, n.isa).toBe(true);
    expect(n.active).toBe(n.available && env !== '0');
    expect(n.minProduct).toBe(env === 'all' ? 1 : NATIVE_MIN_PRODUCT);
    if (!n.available) expect(n.isa).toMatch(/^none: /);
  });

  it.skipIf(!nativeKernels().available)('runs its products on the threads setting (CELLSTACK_THREADS / configure)', () => {
    const threads = settings().threads;
    if (env !== '0') expect(nativeKernels().threads).toBe(threads);
    configure({ threads: 3 });
    expect(nativeKernels().threads).toBe(env === '0' ? 1 : 3);
    configure({ threads });
  });

  it('rejects a bad threshold, naming what is allowed', () => {
    expect(() => setNativeKernels(true, 0)).toThrow(/minProduct is 0.*positive integer/);
    expect(() => setNativeKernels(true, 2.5)).toThrow(/positive integer/);
  });


  it.skipIf(!nativeKernels().available)('fused LSTM: native and wasm products agree to 1e-5, differ in rounding, and leak nothing', () => {
    const built = buildCell(LSTM, { units: 64 }, { inputSize: 16, seed: 2 });
    const x = randomTensor([8, 6, 16], 4) as tf.Tensor3D;
    // 8 × 256 × 64 multiply-adds per step: above the default threshold.
    const run = (native: boolean) => {
      setNativeKernels(native);
      const before = tf.memory().numTensors;
      const r = tf.tidy(() => {
        const f = (xs: tf.Tensor) => tf.sum(tf.square(runSequence(built.cell, built.params as Params, xs as tf.Tensor3D, { training: false, returnSequences: true }).output)) as tf.Scalar;
        const { value, grad } = tf.valueAndGrad(f)(x);
        return [value.dataSync()[0], grad.dataSync() as Float32Array] as const;
      });
      expect(tf.memory().numTensors).toBe(before);
      return r;
    };
    const [wasmLoss, wasmGrad] = run(false);
    const counted = productMultiplyAdds();
    const [nativeLoss, nativeGrad] = run(true);
    // Every product counts, the whole-loop host calls' T steps too (T 6, B 8, F 16, H 64, G 4H): the forward
    // loop with its input projection, the backward loop, [dW_k; dbias; dU] in one product (rows x_t, 1, h_{t−1}), dx.
    const [T, B, F, H, G] = [6, 8, 16, 64, 256];
    expect(productMultiplyAdds() - counted).toBe(T * B * F * G + 2 * T * B * G * H + (H + F + 1) * G * T * B + T * B * G * F);
    expect(Math.abs(nativeLoss - wasmLoss) / wasmLoss).toBeLessThan(1e-5);
    let diff = 0;
    let scale = 0;
    nativeGrad.forEach((g, i) => {
      diff = Math.max(diff, Math.abs(g - wasmGrad[i]));
      scale = Math.max(scale, Math.abs(wasmGrad[i]));
    });
    expect(diff / scale).toBeLessThan(1e-5);
    expect(diff).toBeGreaterThan(0); // FMA rounds once per multiply-add: the native path did run
    x.dispose();
    built.dispose();
  });

  it.each([false, true])('fused LSTM (native %s): where x needs no gradient, dx is not computed and the weight gradients are the same bits', (native) => {
    if (native && !nativeKernels().available) return;
    setNativeKernels(native);
    const built = buildCell(LSTM, { units: 64 }, { inputSize: 16, seed: 2 });
    const P = built.params as Params;
    const x = randomTensor([8, 6, 16], 4) as tf.Tensor3D;
    const names = ['kernel', 'recurrent', 'bias'] as const;
    const loss = (xs: tf.Tensor, ws: tf.Tensor[]) => {
      const params = { ...P, ...Object.fromEntries(names.map((n, i) => [n, ws[i]])) };
      return tf.sum(tf.square(runSequence(built.cell, params, xs as tf.Tensor3D, { training: false, returnSequences: true }).output)) as tf.Scalar;
    };
    const weights = names.map((n) => P[n]);
    const before = tf.memory().numTensors;
    const counted = productMultiplyAdds();
    const withDx = tf.tidy(() => tf.grads((xs: tf.Tensor, ...ws: tf.Tensor[]) => loss(xs, ws))([x, ...weights]).map((g) => g.dataSync().slice()));
    const withDxProducts = productMultiplyAdds() - counted;
    const onlyWeights = tf.tidy(() => tf.grads((...ws: tf.Tensor[]) => loss(x, ws))(weights).map((g) => g.dataSync().slice()));
    expect(tf.memory().numTensors).toBe(before);
    expect(onlyWeights).toEqual(withDx.slice(1));
    expect(withDx[0].some((v) => v !== 0)).toBe(true);
    // The native path counts its products: all but dx (T·B·4H·F multiply-adds).
    const [T, B, F, H] = [6, 8, 16, 64];
    if (native) expect(productMultiplyAdds() - counted - withDxProducts).toBe(withDxProducts - T * B * 4 * H * F);
    x.dispose();
    built.dispose();
  });
});
