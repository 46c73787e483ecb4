import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { GRU, JANET, LSTM, SimpleRNN, runSequence, sequencePaths, setFusedKernels, type CellPlugin } from '@cellstack/core';
import { buildCell, comparePadded, paddedPaths, paddedProblems, randomTensor } from '@cellstack/core/testing';

const baselines: Array<[string, CellPlugin, Record<string, unknown>]> = [LSTM, GRU, SimpleRNN, JANET].map((p) => [p.name, p, { units: 5 }]);

// Sequences of 1–5 steps (and one of none) padded with junk: the mask must make padding invisible.
describe.each(baselines)('%s on a padded batch', (_name, plugin, options) => {
  it.each(paddedPaths)('$path: real steps, final states and gradients equal each sequence run alone', ({ useFused, left }) => {
    const built = buildCell(plugin, options, { inputSize: 3, seed: 4 });
    const r = comparePadded(built, { lengths: [5, 2, 4, 1, 5, 0], inputSize: 3, left, useFused });
    expect(paddedProblems(r, { useFused })).toEqual([]);
    built.dispose();
  });
});

describe('a mask with a gap inside a sequence', () => {
  it('runs the generic loop instead of the fused kernel, says so once, and still equals the generic result', async () => {
    const built = buildCell(GRU, { units: 4 }, { inputSize: 2, seed: 2 });
    const warnings: string[] = [];
    const listen = (w: Error) => warnings.push(w.message);
    process.on('warning', listen);
    const x = randomTensor([2, 5, 2], 1) as tf.Tensor3D;
    const mask = tf.tensor2d([[1, 0, 1, 1, 0], [1, 1, 1, 1, 1]]);
    const run = () => runSequence(built.cell, built.params as never, x, { training: false, returnSequences: true, mask, label: 'GRU' }).output;
    const before = { ...sequencePaths };
    const fused = run();
    const again = run();
    setFusedKernels(false);
    const generic = run();
    setFusedKernels(true);
    await new Promise((r) => setImmediate(r));
    process.off('warning', listen);
    expect(sequencePaths.fused).toBe(before.fused);
    expect(sequencePaths.maskedLoop - before.maskedLoop).toBe(2);
    expect(warnings.filter((w) => w.includes('GRU: its mask has gaps inside a sequence'))).toHaveLength(1);
    expect(Array.from(fused.dataSync())).toEqual(Array.from(generic.dataSync()));
    tf.dispose([x, mask, fused, again, generic]);
    built.dispose();
  });
});
