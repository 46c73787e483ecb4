import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { GRU, JANET, LSTM, SimpleRNN, runSequence, type Params } from '@cellstack/core';
import { buildCell, randomTensor } from '@cellstack/core/testing';

// Outside a gradient these kernels hand their outputs to tensors as views of kernel memory
// (RunOptions.views): a later call on the same kernel must not change earlier results.
describe.each([SimpleRNN, GRU, LSTM, JANET])('%s forward pass outside a gradient', (plugin) => {
  it('keeps each call’s outputs and state when the kernel runs again', () => {
    const built = buildCell(plugin, { units: 6 }, { inputSize: 3, seed: 4 });
    const run = (x: tf.Tensor3D) => {
      const r = runSequence(built.cell, built.params as Params, x, { training: false, returnSequences: true });
      return [r.output, ...Object.values(r.state)];
    };
    const [x1, x2] = [randomTensor([2, 5, 3], 1) as tf.Tensor3D, randomTensor([2, 5, 3], 2) as tf.Tensor3D];
    const first = run(x1);
    const before = first.map((t) => Array.from(t.dataSync()));
    const second = run(x2);
    first.forEach((t, i) => expect(Array.from(t.dataSync())).toEqual(before[i]));
    expect(Array.from(second[0].dataSync())).not.toEqual(before[0]);
    // The final state is the last step's output for these cells' h.
    expect(Array.from(first[1].dataSync())).toEqual(Array.from(tf.slice(first[0], [0, 4, 0], [2, 1, 6]).dataSync()));
    tf.dispose([...first, ...second, x1, x2]);
    built.dispose();
  });
});
