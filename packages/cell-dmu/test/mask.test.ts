import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { CellLayer, runtimeOf } from '@cellstack/core';
import { buildCell, comparePadded, paddedPaths, paddedProblems } from '@cellstack/core/testing';
import { DMU } from '../src/index.js';

describe.each([{}, { layers: [4, 3] }])('DMU %j on a padded batch', (options) => {
  it.each(paddedPaths)('$path: real steps, final states and gradients equal each sequence run alone', ({ useFused, pad }) => {
    const built = buildCell(DMU, { units: 5, ...options }, { inputSize: 3, seed: 4 });
    const r = comparePadded(built, { lengths: [5, 2, 4, 1, 5, 0], inputSize: 3, pad, useFused });
    expect(paddedProblems(r, { useFused, tol: 1e-4 })).toEqual([]);
    built.dispose();
  });
});

describe('bidirectional DMU', () => {
  it('gives the backward direction the same depth-scaled learning rates as the forward one', () => {
    const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' }).use(DMU);
    const model = rt.build({ input: { shape: [4, 3] }, layers: [{ cell: 'DMU', options: { units: 4, layers: [5], depthScaledLr: true }, bidirectional: {} }], seed: 1 });
    const layer = model.layers.find((l) => l instanceof CellLayer) as CellLayer;
    const m = [...layer.lrMultipliers()].map(([k, v]) => [k.replace(/^.*\//, ''), v] as const);
    const forward = m.filter(([k]) => !k.startsWith('backward_'));
    expect(forward.length).toBeGreaterThan(0);
    expect(m.filter(([k]) => k.startsWith('backward_')).map(([k, v]) => [k.slice('backward_'.length), v])).toEqual(forward);
    model.dispose();
  });
});
