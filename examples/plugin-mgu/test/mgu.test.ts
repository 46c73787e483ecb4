import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { cellPath, createRuntime } from '@cellstack/core';
import { buildCell, compareFused, gradCheck, forward, leakedTensors, randomTensor, runCell, saveAndLoad, sigmoid } from '@cellstack/core/testing';
import { MGU } from '../src/index.js';

describe('MGU', () => {
  it('one step on hand-set weights equals the equations', () => {
    // F = 1, H = 1: f = σ(0.5·x + 0.2·h + 0.1), h̃ = tanh(−0.3·x + 0.7·f·h − 0.2), h' = h + f(h̃ − h).
    const built = buildCell(MGU, { units: 1 }, { inputSize: 1, values: { kernel: [[0.5, -0.3]], recurrentGate: [[0.2]], recurrentCandidate: [[0.7]], bias: [0.1, -0.2] } });
    const [x, h] = [0.8, 0.4];
    const f = sigmoid(0.5 * x + 0.2 * h + 0.1);
    const hh = Math.tanh(-0.3 * x + 0.7 * f * h - 0.2);
    const r = runCell(built, [[[x]]], { initialState: { h: [[h]] } });
    expect(r.outputs[0][0][0]).toBeCloseTo(h + f * (hh - h), 6);
    built.dispose();
  });

  it('gradients match finite differences', () => {
    const built = buildCell(MGU, { units: 3 }, { inputSize: 2, seed: 2 });
    const x = randomTensor([2, 4, 2], 3) as tf.Tensor3D;
    const w = randomTensor([2, 4, 3], 4);
    const r = gradCheck(() => tf.sum(tf.mul(forward(built, x), w)) as tf.Scalar, built.params);
    expect(r.maxRelError).toBeLessThan(2e-2);
    tf.dispose([x, w]);
    built.dispose();
  });

  it('the traced kernel equals the step loop: outputs, final state, every gradient', () => {
    const built = buildCell(MGU, { units: 5 }, { inputSize: 3, seed: 3 });
    const r = compareFused(built, { batch: 3, time: 7, inputSize: 3, kernel: 'traced' });
    expect(r.path).toBe('traced');
    for (const [what, err] of Object.entries(r.errors)) expect(err, what).toBeLessThan(1e-4);
    built.dispose();
  });

  it('runs traced in a model: learns, leaks no tensors, saves → loads to identical outputs', async () => {
    expect(cellPath(MGU)).toBe('traced');
    const rt = await createRuntime({ backend: 'wasm', cells: [MGU] });
    const model = rt.build({ input: { shape: [6, 2] }, layers: [{ cell: 'MGU', options: { units: 8 } }, { type: 'last' }, { type: 'dense', units: 1 }], seed: 1 });
    model.compile({ optimizer: 'adam', loss: 'meanSquaredError' });
    const x = randomTensor([8, 6, 2], 5);
    const y = tf.div(tf.reshape(tf.sum(x, [1, 2]), [8, 1]), 6);
    const first = (await model.trainOnBatch(x, y)) as number;
    expect(await leakedTensors(model, x, y, 40)).toBe(0);
    expect((await model.trainOnBatch(x, y)) as number).toBeLessThan(first * 0.8);
    const loaded = await saveAndLoad(model);
    const [a, b] = [model, loaded].map((m) => tf.tidy(() => (m.predict(x) as tf.Tensor).arraySync()));
    expect(b).toEqual(a);
    tf.dispose([x, y]);
    model.dispose();
    loaded.dispose();
  });

  it('rejects bad options with the option path', () => {
    expect(() => MGU.resolveOptions({ units: 0 })).toThrow('options.units: must be an integer >= 1 (got 0)');
    expect(() => MGU.resolveOptions({ unit: 4 })).toThrow(/options\.unit: unknown option 'unit'/);
  });
});
