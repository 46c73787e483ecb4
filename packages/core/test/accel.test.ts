import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { LSTM, accelState, configure, installAccel, runSequence, selectBackend, type Params } from '@cellstack/core';
import { buildCell, randomTensor } from '@cellstack/core/testing';

const PATCHES = ['BatchMatMul', '_FusedMatMul', 'Slice', 'Identity', 'Adam', 'Dense', 'categoricalCrossentropy', 'trainStep'];

describe.runIf(tf.getBackend() === 'wasm')('the tfjs-backend-wasm patches (core/src/accel)', () => {
  afterEach(() => {
    configure({ accel: true });
    installAccel();
  });

  it('are installed with the wasm backend and recorded in BackendInfo', async () => {
    const info = await selectBackend('wasm');
    expect(info.accel).toEqual({ on: true, patches: PATCHES, reason: expect.stringMatching(/wasm backend/) });
  });

  it('opt out: tfjs kernels come back, the same model gives the same outputs, and nothing leaks', () => {
    const built = buildCell(LSTM, { units: 24 }, { inputSize: 5, seed: 3 });
    const x = randomTensor([3, 7, 5], 8) as tf.Tensor3D;
    const run = () => {
      const before = tf.memory().numTensors;
      const out = tf.tidy(() => {
        const f = (xs: tf.Tensor) => tf.sum(tf.square(runSequence(built.cell, built.params as Params, xs as tf.Tensor3D, { training: false, returnSequences: true }).output)) as tf.Scalar;
        const { value, grad } = tf.valueAndGrad(f)(x);
        // transposeB takes the replacement's transpose-first path
        const p = tf.matMul(tf.reshape(x, [21, 5]), tf.ones([4, 5]), false, true);
        return [value.dataSync()[0], grad.dataSync() as Float32Array, p.dataSync() as Float32Array] as const;
      });
      expect(tf.memory().numTensors).toBe(before);
      return out;
    };
    const patchedSlice = tf.getKernel('Slice', 'wasm')!.kernelFunc;
    const [loss, grad, product] = run();

    configure({ accel: false });
    expect(installAccel()).toEqual({ on: false, patches: [], reason: expect.stringMatching(/CELLSTACK_ACCEL=0/) });
    expect(accelState().on).toBe(false);
    expect(tf.getKernel('Slice', 'wasm')!.kernelFunc).not.toBe(patchedSlice);
    const [loss0, grad0, product0] = run();
    expect(Math.abs(loss0 - loss) / loss).toBeLessThan(1e-6);
    grad.forEach((g, i) => expect(Math.abs(g - grad0[i])).toBeLessThan(1e-5));
    product.forEach((p, i) => expect(p).toBeCloseTo(product0[i], 5));

    configure({ accel: true });
    expect(installAccel().patches).toEqual(PATCHES);
    expect(tf.getKernel('Slice', 'wasm')!.kernelFunc).not.toBe(patchedSlice); // a fresh replacement
    x.dispose();
    built.dispose();
  });
});
