/**
 * Every cell on webgpu through the generic step loop, against the cpu backend running the
 * same loop: outputs, final states and the gradients of every input, parameter and initial
 * state, on tiny shapes (lavapipe on CI's 2 cores is slow). Float32 on both; the worst
 * difference measured on lavapipe was 7.5e-7 (NRU), the tolerance 5e-6 + 1e-5·|cpu|.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { initialState, runSequence, type Params } from '@cellstack/core';
import { buildCell, randomTensor } from '@cellstack/core/testing';
import { ALL_CELLS, readAll, sizeOption, useBackend, worstRatio } from './helpers.js';

const [B, T, F, H] = [2, 3, 3, 4];

/** Outputs, final states and all gradients of a fixed random projection of both. */
async function cellResults(backend: 'webgpu' | 'cpu', plugin: (typeof ALL_CELLS)[number]): Promise<Record<string, Float32Array>> {
  await useBackend(backend);
  const built = buildCell(plugin, { [sizeOption(plugin)]: H }, { inputSize: F, seed: 3 });
  const x = tf.tidy(() => tf.variable(randomTensor([B, T, F], 11) as tf.Tensor3D, true));
  // A non-zero initial state, so its gradient and its use are both exercised.
  const init: Record<string, tf.Variable<tf.Rank.R2>> = tf.tidy(() => {
    const s0 = initialState(built.cell, B, built.params as Params);
    return Object.fromEntries(Object.entries(s0).map(([k, v], i) => [k, tf.variable(tf.add(v, tf.mul(0.3, randomTensor(v.shape, 20 + i))) as tf.Tensor2D, true)]));
  });
  const probe: Record<string, tf.Tensor> = {};
  const { value, grads } = tf.variableGrads(() => {
    const r = runSequence(built.cell, built.params as Params, x, { training: false, returnSequences: true, initialState: init });
    probe.output = tf.keep(r.output);
    for (const [k, v] of Object.entries(r.state)) probe[`state.${k}`] = tf.keep(v);
    let loss = tf.sum(tf.mul(r.output, randomTensor(r.output.shape, 31)));
    Object.values(r.state).forEach((v, i) => (loss = tf.add(loss, tf.sum(tf.mul(v, randomTensor(v.shape, 40 + i))))));
    return loss as tf.Scalar;
  }, [x, ...Object.values(built.params), ...Object.values(init)]);
  value.dispose();
  // Gradients by role (variable names are process-unique): x, each parameter, each initial state.
  const names = new Map<string, string>([[x.name, 'x'], ...Object.entries(built.params).map(([k, v]): [string, string] => [v.name, k]), ...Object.entries(init).map(([k, v]): [string, string] => [v.name, `state.${k}`])]);
  const out = await readAll({ ...probe, ...Object.fromEntries(Object.entries(grads).map(([k, g]) => [`grad.${names.get(k)}`, g])) });
  tf.dispose([x, ...Object.values(init)]);
  built.dispose();
  return out;
}

describe('every cell on webgpu equals the cpu backend (generic step loop)', () => {
  afterAll(() => useBackend('webgpu'));
  for (const plugin of ALL_CELLS) {
    it(`${plugin.name}: outputs, states and every gradient within 5e-6 + 1e-5·|cpu|`, async () => {
      const cpu = await cellResults('cpu', plugin);
      const before = tf.memory().numTensors;
      const gpu = await cellResults('webgpu', plugin);
      expect(tf.memory().numTensors).toBe(before);
      expect(Object.keys(gpu).sort()).toEqual(Object.keys(cpu).sort());
      expect(Object.keys(cpu).filter((k) => k.startsWith('grad.')).length).toBeGreaterThan(2);
      const { ratio, where } = worstRatio(gpu, cpu, 5e-6, 1e-5);
      expect(ratio, where).toBeLessThanOrEqual(1);
    });
  }
});
