import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { CellstackError, LSTM, createOptimizer, createRuntime, fusedCall, loadKernel, selectBackend, type FusedSpec } from '@cellstack/core';

// A forward pass's saved values stay in kernel memory (WasmKernel.keep) and its backward pass reads
// them in place. The SimpleRNN module's memory serves as a plain arena here (none of its exports run).
const kernel = loadKernel(new URL('../kernel/simple-rnn.wasm', import.meta.url));
/** Where this call's first allocation lands: the bottom of the bump region, above every live kept block. */
const floor = () => {
  kernel.reset();
  return kernel.scratch(1);
};

describe('WasmKernel kept blocks', () => {
  it('survive later calls and memory growth, are passed back in place, and free their room', () => {
    const start = floor();
    kernel.reset();
    const p = kernel.keep(3, true);
    kernel.view(p, 3).set([1, 2, 3]);
    const saved = kernel.saved(p, 3);
    expect(floor()).toBeGreaterThan(start);
    kernel.reset();
    kernel.scratch(kernel.buffer.byteLength / 4); // past the end: memory grows, every earlier view is detached
    expect(saved.length).toBe(0);
    kernel.reset();
    expect(kernel.put(saved)).toBe(p); // no copy, and the values are intact
    expect(Array.from(kernel.view(p, 3))).toEqual([1, 2, 3]);
    kernel.free(saved);
    expect(floor()).toBe(start);
    expect(() => kernel.put(saved)).toThrow(CellstackError);
    expect(() => kernel.put(saved)).toThrow(/saved value already freed/);
  });

  it('free in any order: the stack shrinks once its top block is free', () => {
    const start = floor();
    kernel.reset();
    const lower = kernel.saved(kernel.keep(5), 5);
    kernel.reset();
    const upper = [kernel.keep(7), kernel.keep(2)]; // one call: one block
    const views = [kernel.saved(upper[0], 7), kernel.saved(upper[1], 2)];
    const above = floor();
    kernel.free(lower);
    expect(floor()).toBe(above); // the upper block still holds its room
    kernel.free(views[1]); // frees the whole block, both views
    expect(floor()).toBe(start);
    kernel.reset();
    expect(() => kernel.put(views[0])).toThrow(/saved value already freed/);
  });

  it('every allocation starts on a 64-byte cache line, whatever the sizes before it', () => {
    kernel.reset();
    const ptrs = [kernel.keep(3), kernel.keep(5, true), kernel.put(Float32Array.of(1)), kernel.alloc(7), kernel.scratch(1), kernel.putInts(Int32Array.of(2, 3)), kernel.alloc(16)];
    expect(ptrs.map((p) => p % 64)).toEqual(ptrs.map(() => 0));
    expect(new Set(ptrs).size).toBe(ptrs.length);
    kernel.free(kernel.saved(ptrs[0], 3));
  });

  it('keep() only before this call’s other allocations; saved() of other memory is a copy', () => {
    kernel.reset();
    const q = kernel.put(Float32Array.from([4, 5]));
    expect(() => kernel.keep(2)).toThrow(/keep\(\) right after reset\(\)/);
    const copy = kernel.saved(q, 2);
    expect(Array.from(copy)).toEqual([4, 5]);
    expect(copy.buffer).not.toBe(kernel.buffer);
    kernel.free(copy); // not kept: ignored
  });
});

// fusedCall frees each forward pass's kept block after its backward pass, whatever ran on the kernel in between.
const spec: FusedSpec<Float32Array[]> = {
  forward([x], { saving }) {
    kernel.reset();
    const keep = saving && tf.getBackend() === 'wasm';
    const p = keep ? kernel.keep(x.length, true) : kernel.scratch(x.length);
    kernel.view(p, x.length).set(x.map((v) => v * v));
    kernel.scratch(2 ** 20); // a large call: memory may grow between this pass and its backward pass
    return { outputs: [x.map((v) => v * v)], saved: [kernel.saved(p, x.length)] };
  },
  backward(_, [x2], [dy]) {
    kernel.reset();
    const p = kernel.put(x2);
    const sq = kernel.view(p, x2.length);
    // d(x²)/dx = 2x = 2·sign·√(x²): enough to show the saved values arrived intact.
    return [dy.map((g, i) => g * 2 * Math.sqrt(sq[i]))];
  },
};

describe.each(['wasm', 'cpu'] as const)('fusedCall with kept saved values on %s', (backend) => {
  afterAll(() => selectBackend((process.env.CELLSTACK_TEST_BACKEND as 'wasm') ?? 'wasm'));

  it('output(): in place where tensors copy at once (wasm), else a copy', async () => {
    await selectBackend(backend);
    kernel.reset();
    const p = kernel.put(Float32Array.from([7, 8]));
    const out = kernel.output(p, 2);
    expect(Array.from(out)).toEqual([7, 8]);
    expect(out.buffer === kernel.buffer).toBe(backend === 'wasm');
  });

  it('three stacked calls give the right gradient and leave no block behind', async () => {
    await selectBackend(backend);
    const start = floor();
    const x = tf.tensor1d([0.5, 1.5, 2]);
    const grad = tf.grad((t: tf.Tensor) => {
      const [a] = fusedCall([t], [[3]], spec);
      const [b] = fusedCall([tf.add(a, 1)], [[3]], spec);
      const [c] = fusedCall([tf.add(b, 1)], [[3]], spec);
      return tf.sum(c);
    })(x);
    // c = ((x² + 1)² + 1)², dc/dx = 2c^½ · 2(x² + 1) · 2x
    const want = [0.5, 1.5, 2].map((v) => 2 * ((v * v + 1) ** 2 + 1) * 2 * (v * v + 1) * 2 * v);
    Array.from(grad.dataSync()).forEach((g, i) => expect(g).toBeCloseTo(want[i], 3));
    expect(floor()).toBe(start);
    tf.dispose([x, grad]);
  });
});

describe('LSTM training on wasm with kept saved values', () => {
  it('frees every layer’s block each step: kernel memory and tensors stay flat', async () => {
    await selectBackend('wasm');
    const rt = await createRuntime({ backend: 'wasm' });
    rt.use(LSTM);
    const model = rt.build({ input: { shape: [7, 3] }, layers: [{ cell: 'LSTM', options: { units: 8 }, repeat: 3 }, { type: 'dense', units: 2 }], seed: 3 });
    model.compile({ optimizer: createOptimizer(model, { learningRate: 1e-2 }), loss: 'meanSquaredError' });
    const x = tf.randomNormal([4, 7, 3], 0, 1, 'float32', 1);
    const y = tf.randomNormal([4, 7, 2], 0, 1, 'float32', 2);
    const lstm = loadKernel(new URL('../kernel/lstm.wasm', import.meta.url));
    const base = () => {
      lstm.reset();
      return lstm.scratch(1);
    };
    const losses: number[] = [];
    losses.push((await model.trainOnBatch(x, y)) as number);
    const start = base();
    const [bytes, tensors] = [lstm.buffer.byteLength, tf.memory().numTensors];
    for (let i = 0; i < 20; i++) losses.push((await model.trainOnBatch(x, y)) as number);
    expect(base()).toBe(start);
    expect(lstm.buffer.byteLength).toBe(bytes);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(losses.at(-1)!).toBeLessThan(0.8 * losses[0]);
    tf.dispose([x, y]);
    model.dispose();
  });
});
