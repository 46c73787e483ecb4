import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { GRU, JANET, LSTM, SimpleRNN, runSequence, sequencePaths, setFusedKernels, setKernelPreference, type CellPlugin } from '@cellstack/core';
import { buildCell, comparePadded, paddedPaths, paddedProblems, randomTensor } from '@cellstack/core/testing';

const baselines: Array<[string, CellPlugin, Record<string, unknown>]> = [LSTM, GRU, SimpleRNN, JANET].map((p) => [p.name, p, { units: 5 }]);

// Sequences of 1–5 steps (and one of none) padded with junk: the mask must make padding invisible.
describe.each(baselines)('%s on a padded batch', (_name, plugin, options) => {
  it.each(paddedPaths)('$path: real steps, final states and gradients equal each sequence run alone', ({ useFused, pad }) => {
    const built = buildCell(plugin, options, { inputSize: 3, seed: 4 });
    const r = comparePadded(built, { lengths: [5, 2, 4, 1, 5, 0], inputSize: 3, pad, useFused });
    expect(paddedProblems(r, { useFused })).toEqual([]);
    built.dispose();
  });
});

describe('masks with gaps inside sequences', () => {
  // Row 0: gaps at steps 1 and 4; row 1: none; row 2: padding in front and a gap; row 3: all padding.
  const maskRows = [
    [1, 0, 1, 1, 0, 1],
    [1, 1, 1, 1, 1, 1],
    [0, 0, 1, 0, 1, 1],
    [0, 0, 0, 0, 0, 0],
  ];
  it.each(baselines)('%s: the fused kernel runs in chunks and equals the generic loop, gradients included', (_name, plugin, options) => {
    const built = buildCell(plugin, options, { inputSize: 2, seed: 2 });
    const pnames = Object.keys(built.params);
    const run = (fused: boolean) =>
      tf.tidy(() => {
        setFusedKernels(fused);
        const before = sequencePaths.fused;
        const x = randomTensor([4, 6, 2], 1) as tf.Tensor3D;
        const mask = tf.tensor2d(maskRows);
        const w = randomTensor([4, 6, 5], 3);
        const { value, grads } = tf.valueAndGrads((...xs: tf.Tensor[]) => {
          const params = Object.fromEntries(pnames.map((n, i) => [n, xs[1 + i]]));
          const r = runSequence(built.cell, params as never, xs[0] as tf.Tensor3D, { training: false, returnSequences: true, mask });
          const states = Object.values(r.state).map((s) => tf.sum(tf.mul(s, s)));
          return tf.addN([tf.sum(tf.mul(r.output, w)), ...states]) as tf.Scalar;
        })([x, ...pnames.map((n) => built.params[n])]);
        setFusedKernels(true);
        return { ran: sequencePaths.fused - before, values: [value, ...grads].map((t) => Array.from(t.dataSync())) };
      });
    const generic = run(false);
    const fused = run(true);
    expect(generic.ran).toBe(0);
    expect(fused.ran).toBe(1);
    fused.values.forEach((v, i) => {
      const scale = Math.max(...generic.values[i].map(Math.abs), 1e-6);
      v.forEach((g, j) => expect(Math.abs(g - generic.values[i][j]) / scale, `value ${i}[${j}]`).toBeLessThan(1e-5));
    });
    built.dispose();
  });
});

// Traced kernels take masks the way hand-written ones do: only real steps enter a kernel call.
describe.each(baselines)('%s traced on a padded batch', (_name, plugin, options) => {
  it.each(paddedPaths.filter((p) => p.useFused))('$path: equals each sequence run alone, through the traced kernel', ({ useFused, pad }) => {
    const built = buildCell(plugin, options, { inputSize: 3, seed: 4 });
    setKernelPreference('traced');
    try {
      const r = comparePadded(built, { lengths: [5, 2, 4, 1, 5, 0], inputSize: 3, pad, useFused });
      expect(paddedProblems(r, { useFused })).toEqual([]);
      const x = randomTensor([2, 4, 3], 1) as tf.Tensor3D;
      const mask = tf.tensor2d([[1, 1, 0, 0], [1, 0, 1, 1]]);
      const run = runSequence(built.cell, built.params as never, x, { training: false, returnSequences: true, mask });
      expect(run.path).toBe('traced');
      tf.dispose([x, mask, run.output, ...Object.values(run.state)]);
    } finally {
      setKernelPreference('hand-written');
    }
    built.dispose();
  });
});
