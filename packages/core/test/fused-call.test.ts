import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { fusedCall, loadKernel, selectBackend, type FusedSpec } from '@cellstack/core';

// A kernel-free spec in the shape of a real one: outputs y = 2x and s = sum(x) per row, saved x and
// (like STAR, which reads h_t back from its outputs) y itself;
// every array from WasmKernel.read's pool (the SimpleRNN module's memory, none of its exports).
const kernel = loadKernel(new URL('../kernel/simple-rnn.wasm', import.meta.url));
const pooled = (values: ArrayLike<number>) => kernel.read(kernel.put(Float32Array.from(values)), values.length);

const spec: FusedSpec<Float32Array[]> = {
  forward([x]) {
    kernel.reset();
    const rows = x.length / 3;
    const y = pooled(Array.from(x, (v) => 2 * v));
    const s = pooled(Array.from({ length: rows }, (_, r) => x[3 * r] + x[3 * r + 1] + x[3 * r + 2]));
    return { outputs: [y, s], saved: [pooled(x), y] };
  },
  backward([x], saved, [dy, ds]) {
    kernel.reset();
    expect(Array.from(saved[0])).toEqual(Array.from(x));
    expect(Array.from(saved[1])).toEqual(Array.from(x, (v) => 2 * v));
    return [pooled(Array.from(dy, (g, i) => 2 * g + ds[Math.floor(i / 3)]))];
  },
};

const run = (x: tf.Tensor2D) =>
  tf.tidy(() => {
    // Two stacked calls: the second's arrays must not be the first's saved ones.
    const { value, grads } = tf.valueAndGrads((t: tf.Tensor) => {
      const [y1] = fusedCall([t], [[2, 3], [2]], spec);
      const [y, s] = fusedCall([tf.add(y1, 1)], [[2, 3], [2]], spec);
      return tf.add(tf.sum(tf.mul(y, y)), tf.sum(tf.mul(s, tf.scalar(3))));
    })([x]);
    const [y, s] = fusedCall([x], [[2, 3], [2]], spec);
    return [value, grads[0], y, s].map((t) => tf.keep(t));
  });

describe.each(['wasm', 'cpu'] as const)('fusedCall on %s: pooled arrays are reused only once nothing reads them', (backend) => {
  afterAll(() => selectBackend((process.env.CELLSTACK_TEST_BACKEND as 'wasm') ?? 'wasm'));

  it('keeps earlier outputs and gradients intact across later calls, and leaks no tensors', async () => {
    await selectBackend(backend);
    const a = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = tf.tensor2d([-1, 0.5, 2, 7, -3, 1], [2, 3]);
    const before = tf.memory().numTensors;
    const first = run(a);
    const snapshot = first.map((t) => Array.from(t.dataSync()));
    for (let i = 0; i < 3; i++) tf.dispose(run(b));
    expect(first.map((t) => Array.from(t.dataSync()))).toEqual(snapshot);
    // y = 2·(2x + 1): d/dx [Σ y² + 3 Σ_r Σ_j (2x + 1)] = 8·y + 6 = 32x + 22
    expect(snapshot[1]).toEqual([1, 2, 3, 4, 5, 6].map((v) => 32 * v + 22));
    expect(snapshot[2]).toEqual([2, 4, 6, 8, 10, 12]);
    expect(snapshot[3]).toEqual([6, 15]);
    tf.dispose(first);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([a, b]);
  });

  it('outside a gradient, hands the saved arrays back to the pool at once (inference takes no fresh ones)', async () => {
    await selectBackend(backend);
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    let saved: Float32Array[] = [];
    const saving: boolean[] = [];
    const spy: FusedSpec<Float32Array[]> = { ...spec, forward: (xs, c) => ((r) => ((saved = r.saved!), saving.push(c.saving), r))(spec.forward(xs, c)) };
    const before = tf.memory().numTensors;
    const [y, s] = fusedCall([x], [[2, 3], [2]], spy);
    // Each output its own tensor, nothing packed: two new tensors.
    expect(tf.memory().numTensors - before).toBe(2);
    expect(Array.from(y.dataSync())).toEqual([2, 4, 6, 8, 10, 12]);
    expect(Array.from(s.dataSync())).toEqual([6, 15]);
    tf.dispose([y, s]);
    const reused = Array.from({ length: 4 }, () => kernel.read(0, 6));
    // Both saved arrays on wasm (tensors copy); on cpu the output tensor y kept its own array.
    expect(reused.filter((r) => saved.includes(r)).length).toBe(backend === 'wasm' ? 2 : 1);
    // Inside a gradient they stay until backward has read them (spec.backward checks their values).
    const g = tf.grad((t: tf.Tensor) => tf.sum(fusedCall([t], [[2, 3], [2]], spy)[0]));
    const read = () => kernel.read(0, 6); // what a later call would take, before backward runs
    tf.dispose(g(tf.tidy(() => (read(), read(), read(), x.clone()))));
    // The kernel is told whether backward can run: predict skips reading what it saves.
    expect(saving).toEqual([false, true]);
    x.dispose();
  });
});
