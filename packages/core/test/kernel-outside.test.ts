import * as tf from '@tensorflow/tfjs-core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Interrupted, LSTM, NATIVE_MIN_PRODUCT, interruptible, nativeKernels, runSequence, selectBackend, setNativeKernels, type Params } from '@cellstack/core';
import { buildCell, randomTensor } from '@cellstack/core/testing';
import { loadKernel } from '../src/kernel.js';

// The LSTM's passes with their output and output gradient left where they lie (RunOptions.outside): the
// addon's loops write out and read dout in place, as step kinds 11 and 12's operands in a second buffer.
const lstm = () => loadKernel(new URL('../kernel/lstm.wasm', import.meta.url));
const env = process.env.CELLSTACK_NATIVE;
const [T, B, F, H] = [5, 8, 16, 64];
const [n, G, R] = [B * H, 4 * H, F + 1 + H];
const seeded = (size: number, seed: number) => Float32Array.from({ length: size }, (_, i) => Math.sin(seed * 1000 + i * 0.37) * 0.5);

/** n floats in an ArrayBuffer of their own, 16 floats in. */
const apart = (n: number) => new Float32Array(new ArrayBuffer(4 * (16 + n)), 64, n);
const inputs = () => [seeded(B * T * F, 1), seeded(F * G, 2), seeded(H * G, 3), seeded(G, 4), seeded(n, 5), seeded(n, 6)];
const sameBits = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** The forward pass's out, c_T, a, cs and rows: out in the kernel, or left in an ArrayBuffer of its own (with x too: `x`). */
function forward(outside: false | 'out' | 'x and out'): Float32Array[] {
  const k = lstm();
  const [x, ...rest] = inputs();
  const options = { written: true, scratch: [R * G] };
  if (!outside) {
    const [out, , cT, a, cs, rows] = k.run('lstm_forward', [T, B, F, H, 1, 0], [x, ...rest], [T * n, n, n, T * 4 * n, T * n, T * B * R], options);
    return [out, cT, a, cs, rows];
  }
  const out = apart(T * n).fill(Number.NaN);
  const xs = outside === 'out' ? x : apart(x.length);
  xs.set(x);
  const [, cT, a, cs, rows] = k.run('lstm_forward', [T, B, F, H, 1, 1], [xs, ...rest, out], [0, n, T * 4 * n, T * n, T * B * R], {
    ...options,
    outside: outside === 'out' ? [6] : [0, 6],
  });
  return [out, cT, a, cs, rows];
}

/** One forward pass and its backward pass, dout in an ArrayBuffer of its own; the gradients. */
function gradients(outside: number[]): Float32Array[] {
  const k = lstm();
  const [x, W, U, bias, h0, c0] = inputs();
  const [, , , a, cs, rows] = k.run('lstm_forward', [T, B, F, H, 1, 0], [x, W, U, bias, h0, c0], [T * n, n, n, T * 4 * n, T * n, T * B * R], { written: true, scratch: [R * G] });
  const dout = apart(T * n);
  dout.set(seeded(T * n, 7));
  return k.run('lstm_backward', [T, B, F, H, 1], [W, U, c0, rows, a, cs, dout, seeded(n, 8), seeded(n, 9)], [B * T * F, F * G, H * G, G, n, n], {
    scratch: [2 * n + 4 * H * H + 4 * F * H + R * G],
    scratchWritten: true,
    outside,
  });
}

describe('kernel operands left outside its memory (RunOptions.outside)', () => {
  afterEach(() => setNativeKernels(env !== '0', env === 'all' ? 1 : NATIVE_MIN_PRODUCT));

  it.skipIf(!nativeKernels().available)('the LSTM backward loop on the addon reads dout in place: the same gradient bits as dout copied in', () => {
    setNativeKernels(true);
    expect(lstm().hostRuns(B * G * H)).toBe(true);
    const copied = gradients([]);
    const inPlace = gradients([6]);
    inPlace.forEach((g, i) => expect(sameBits(g, copied[i]), `gradient ${i}`).toBe(true));
    expect(copied[1].some((v) => v !== 0)).toBe(true);
  });

  it.skipIf(!nativeKernels().available)('the LSTM forward loop on the addon writes out in place: the same bits as out written in the kernel and copied out', () => {
    setNativeKernels(true);
    const copied = forward(false);
    forward('out').forEach((v, i) => expect(sameBits(v, copied[i]), `output ${i}`).toBe(true));
    expect(copied[0].some((v) => v !== 0)).toBe(true);
    // Two left outside in different buffers: the second (out) is copied in, and back out after the call.
    forward('x and out').forEach((v, i) => expect(sameBits(v, copied[i]), `output ${i}, x outside too`).toBe(true));
  });

  it('hostRuns follows the settings: off without the addon, below its threshold, or with it switched off', () => {
    setNativeKernels(true, B * G * H + 1);
    expect(lstm().hostRuns(B * G * H)).toBe(false);
    expect(lstm().hostRuns(B * G * H + 1)).toBe(nativeKernels().available);
    setNativeKernels(false);
    expect(lstm().hostRuns(B * G * H)).toBe(false);
    setNativeKernels(true);
    expect(lstm().hostRuns(B * G * H)).toBe(nativeKernels().available);
  });

  describe.skipIf(!nativeKernels().available)('an LSTM layer whose output the addon writes on tfjs\'s heap', () => {
    const built = buildCell(LSTM, { units: H }, { inputSize: F, seed: 3 });
    const x = randomTensor([B, T, F], 5) as tf.Tensor3D;
    const dataIds = () => (tf.engine().backend as unknown as { numDataIds(): number }).numDataIds();
    const infer = () => tf.tidy(() => {
      const r = runSequence(built.cell, built.params as Params, x, { training: false, returnSequences: true });
      return [r.output, r.state.h, r.state.c].map((t) => t.dataSync().slice() as Float32Array);
    });

    it('inference: the output within 1e-5 of the wasm kernel\'s, h_T its last step exactly, nothing left behind', () => {
      setNativeKernels(false);
      const [wasmOut] = infer();
      setNativeKernels(true);
      const [before, ids] = [tf.memory().numTensors, dataIds()];
      const [out, h] = infer();
      expect([tf.memory().numTensors, dataIds()]).toEqual([before, ids]);
      expect(Math.max(...out.map((v, i) => Math.abs(v - wasmOut[i])))).toBeLessThan(1e-5);
      for (let b = 0; b < B; b++) expect(Array.from(h.subarray(b * H, (b + 1) * H))).toEqual(Array.from(out.subarray((b * T + T - 1) * H, (b * T + T) * H)));
    });

    afterAll(() => selectBackend((process.env.CELLSTACK_TEST_BACKEND as 'wasm') ?? 'wasm'));

    it.each(['wasm', 'cpu'] as const)('on %s: the weight gradients within 1e-5 of the wasm kernel\'s, and nothing left over 5 passes', async (backend) => {
      await selectBackend(backend);
      const weights = (['kernel', 'recurrent', 'bias'] as const).map((k) => (built.params as Params)[k]);
      const loss = (...ws: tf.Tensor[]) => {
        const params = { ...(built.params as Params), kernel: ws[0], recurrent: ws[1], bias: ws[2] };
        return tf.sum(tf.square(runSequence(built.cell, params, x, { training: true, returnSequences: true }).output)) as tf.Scalar;
      };
      const grads = () => tf.tidy(() => tf.grads(loss)(weights).map((g) => g.dataSync().slice() as Float32Array));
      setNativeKernels(false);
      const reference = grads();
      setNativeKernels(true);
      grads();
      const [before, ids] = [tf.memory().numTensors, dataIds()];
      for (let i = 0; i < 4; i++) grads();
      const got = grads();
      expect([tf.memory().numTensors, dataIds()]).toEqual([before, ids]);
      got.forEach((g, i) => {
        const scale = Math.max(...reference[i].map(Math.abs));
        expect(Math.max(...g.map((v, j) => Math.abs(v - reference[i][j]))) / scale, `gradient ${i}`).toBeLessThan(1e-5);
      });
    });

    it('an interrupted pass frees the output\'s room on the heap, in a gradient or not', async () => {
      await selectBackend('wasm');
      setNativeKernels(true);
      const flag = new Int32Array(new SharedArrayBuffer(4));
      Atomics.store(flag, 0, 1);
      const [before, ids] = [tf.memory().numTensors, dataIds()];
      await expect(interruptible(flag, () => infer())).rejects.toBeInstanceOf(Interrupted);
      const grads = () => tf.tidy(() => tf.grad((xs: tf.Tensor) => tf.sum(runSequence(built.cell, built.params as Params, xs as tf.Tensor3D, { training: true, returnSequences: true }).output))(x));
      await expect(interruptible(flag, grads)).rejects.toBeInstanceOf(Interrupted);
      expect([tf.memory().numTensors, dataIds()]).toEqual([before, ids]);
    });
  });
});
