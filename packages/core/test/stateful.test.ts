import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { CellLayer, defineCell, init, runtimeOf } from '@cellstack/core';
import { saveAndLoad } from '@cellstack/core/testing';

// A cell with a non-zero initial state of its own (as RRU's h_0): h_t = h_{t−1} + x_t W, h_0 = [5, 5].
const Counter = defineCell<{ units: number }>({
  name: 'CounterToy',
  description: 'accumulator with its own initial state',
  schema: { type: 'object', properties: { units: { type: 'integer', minimum: 1, default: 2 } }, additionalProperties: false },
  create: ({ units }, { inputSize }) => ({
    state: { h: units },
    outputSize: units,
    params: { w: { shape: [inputSize, units], init: init.constant(1) } },
    initialState: (batch) => ({ h: tf.fill([batch, units], 5) as tf.Tensor2D }),
    project: (x, p) => ({ x: tf.matMul(x, p.w) }),
    step: ({ x }, { h }) => {
      const h2 = tf.add(h, x) as tf.Tensor2D;
      return { output: h2, state: { h: h2 } };
    },
  }),
});
const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' }).use(Counter);

describe('the cell owns its initial state', () => {
  it('is used by the generic loop, and carried across batches when stateful', async () => {
    const x = tf.ones([1, 3, 1]);
    const plain = rt.build({ input: { shape: [3, 1] }, layers: [{ cell: 'CounterToy' }], seed: 1 });
    const once = Array.from((plain.predict(x) as tf.Tensor).dataSync());
    expect(once).toEqual([6, 6, 7, 7, 8, 8]); // starts from h_0 = 5, not 0
    expect(Array.from((plain.predict(x) as tf.Tensor).dataSync())).toEqual(once); // stateless: same again

    const stateful = rt.build({ input: { shape: [3, 1] }, layers: [{ cell: 'CounterToy', stateful: true }], seed: 1 });
    expect(Array.from((stateful.predict(x) as tf.Tensor).dataSync())).toEqual(once);
    expect(Array.from((stateful.predict(x) as tf.Tensor).dataSync())).toEqual([9, 9, 10, 10, 11, 11]); // continues from 8
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) tf.dispose(stateful.predict(x) as tf.Tensor);
    expect(tf.memory().numTensors).toBe(before); // the carried state replaces, never accumulates
    stateful.resetStates();
    expect(Array.from((stateful.predict(x) as tf.Tensor).dataSync())).toEqual(once); // back to h_0
    expect(() => stateful.predict(tf.ones([2, 3, 1]))).toThrow(/carries a state for batch 1, got batch 2: call resetStates\(\) first/);

    const loaded = await saveAndLoad(stateful);
    expect((loaded.layers.find((l) => l instanceof CellLayer) as CellLayer).stateful).toBe(true);
  });
});
