import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initialState, runSequence, type State } from '@cellstack/core';
import { buildCell, randomTensor } from '@cellstack/core/testing';
import { NRU } from '../src/index.js';

describe('NRU memory stability', () => {
  it.each([
    ['defaults (mean, linear heads)', {}],
    ['sum, useRelu', { headReduce: 'sum', useRelu: true }],
  ])('the memory stays finite over 2000 steps of random input: %s', (_, extra) => {
    // The paper's copy-task size (h 80, m 64, k 4) at its default init, input U(−1, 1).
    const cell = buildCell(NRU, { hidden: 80, memory: 64, heads: 4, ...extra }, { inputSize: 10, seed: 9 });
    let state: State = initialState(cell.cell, 2, cell.params);
    let maxAbs = 0;
    let allFinite = true;
    // 2000 steps in chunks of 100 (each chunk in its own tidy, carrying the state over).
    for (let chunk = 0; chunk < 20; chunk++) {
      const next = tf.tidy(() => {
        const x = randomTensor([2, 100, 10], 100 + chunk) as tf.Tensor3D;
        const r = runSequence(cell.cell, cell.params, x, { training: false, returnSequences: false, initialState: state });
        return { h: tf.keep(r.state.h), m: tf.keep(r.state.m) };
      });
      tf.dispose(state);
      state = next;
      const m = state.m.dataSync();
      allFinite &&= m.every(Number.isFinite) && state.h.dataSync().every(Number.isFinite);
      maxAbs = Math.max(maxAbs, ...Array.from(m, Math.abs));
    }
    expect(allFinite).toBe(true);
    // Finite is the paper's check; also record that the memory did move (it is not stuck at 0).
    expect(maxAbs).toBeGreaterThan(0.1);
    tf.dispose(state);
    cell.dispose();
  });
});
