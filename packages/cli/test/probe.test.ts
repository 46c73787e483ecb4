import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { CellLayer, createRng, hashSeed, runSequence } from '@cellstack/core';
import { toTensors } from '@cellstack/tasks';
import { probe } from '@cellstack/analysis';
import { cliRuntime } from '../src/runtime.js';
import { compileSpec, DEFAULT_SEED } from '../src/spec.js';
import { cli, expectChart, spec, tmp, TINY } from './helpers.js';

/** A tiny NRU on the copy task (T = lag + 2·symbols = 7). */
const NRU_TINY = `input [null, 10]
NRU(hidden: 4, memory: 4, heads: 1) -> dense(9, activation: softmax)
train {
  task: copy(lag: 3, symbols: 2)
  batch: 4
  steps: 6
  seed: 3
}
`;

describe('cellstack probe', () => {
  it('writes the forget-gate histogram of a spec and of its trained run', async () => {
    const dir = tmp();
    const file = spec(dir, 'tiny.rnn', TINY);
    const fresh = await cli(['probe', file, '--signal', 'forget', '--batch', '8', '--out', join(dir, 'before')]);
    expect(fresh.stderr).toBe('');
    expect(fresh.code).toBe(0);
    expect(fresh.stdout).toMatch(/\(LSTM\): forget mean 0\.\d{3}, units/);
    expectChart(join(dir, 'before', 'probe-forget'));
    const before = JSON.parse(readFileSync(join(dir, 'before', 'probe-forget.json'), 'utf8'));
    expect(before.state).toBe('untrained');
    expect(before.layers).toHaveLength(1);
    expect(before.layers[0].cell).toBe('LSTM');
    expect(before.layers[0].unitMeans).toHaveLength(4);
    for (const v of before.layers[0].unitMeans) expect(v > 0 && v < 1).toBe(true);

    const run = join(dir, 'run');
    expect((await cli(['train', file, '--out', run, '--progress', 'none'])).code).toBe(0);
    const trained = await cli(['probe', run, '--signal', 'forget', '--batch', '8', '--out', join(dir, 'after')]);
    expect(trained.code).toBe(0);
    const after = JSON.parse(readFileSync(join(dir, 'after', 'probe-forget.json'), 'utf8'));
    expect(after.state).toBe('trained 6 steps');
    expect(after.task).toBe(before.task);
    // Six Adam steps move the gates.
    expect(after.layers[0].unitMeans).not.toEqual(before.layers[0].unitMeans);
    // A gate is not a memory: no change image.
    expect(existsSync(join(dir, 'after', 'probe-forget-change.json'))).toBe(false);
  });

  it("writes the NRU memory-change image (NRU paper Figure 6), equal to |m_t − m_{t−1}| of the recorded memory", async () => {
    const dir = tmp();
    const file = spec(dir, 'nru.rnn', NRU_TINY);
    const r = await cli(['probe', file, '--signal', 'm', '--batch', '3', '--out', join(dir, 'o')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\(NRU\): \|Δm\| summed over units, total [\d.e+-]+, largest at steps \d/);
    expectChart(join(dir, 'o', 'probe-m')); // the per-unit histogram, as for any signal
    expectChart(join(dir, 'o', 'probe-m-change'));
    const json = JSON.parse(readFileSync(join(dir, 'o', 'probe-m-change.json'), 'utf8'));
    expect(json.state).toBe('untrained');
    expect(json.task).toBe('copy(lag: 3, symbols: 2)');
    expect(json.layers).toHaveLength(1);
    const [layer] = json.layers;
    expect([layer.cell, layer.signal, layer.sequence, layer.firstStep]).toEqual(['NRU', 'm', 0, 1]);
    expect(layer.change).toHaveLength(4); // memory units
    for (const row of layer.change) expect(row).toHaveLength(7); // steps

    // Independently: the same model (same spec and seed) on the same batch …
    const { runtime } = await cliRuntime('wasm');
    const compiled = await compileSpec(file, { runtime });
    const model = compiled.model!;
    const { x, y } = toTensors(compiled.task!.batch(3, createRng(hashSeed(DEFAULT_SEED, 'probe')), 'validation'));
    const plain = model.predict(x) as tf.Tensor;
    const expected = plain.arraySync() as number[][][];
    plain.dispose();
    const before = tf.memory().numTensors;
    const p = probe(model, x, { signal: 'm' });
    // … probing leaves the output as it is and leaks nothing (probing runs the step function;
    // a plain predict runs the cell's fused whole-sequence kernel where it has one, equal up to
    // float rounding) …
    const got = (p.output.arraySync() as number[][][]).flat(2);
    expected.flat(2).forEach((v, i) => expect(got[i]).toBeCloseTo(v, 4));
    p.output.dispose();
    expect(tf.memory().numTensors).toBe(before);
    const again = model.predict(x) as tf.Tensor;
    expect(again.arraySync()).toEqual(expected);
    again.dispose();
    const m = p.signals[0].values; // [T][B][M]
    // … the recorded m is the NRU's memory: the state after running the cell over x[:, :t]
    // (read from the state, not from the signals; recordSignals keeps it on the step function) …
    const nru = model.layers.find((l): l is CellLayer => l instanceof CellLayer)!;
    for (let t = 1; t <= 7; t++) {
      const state = tf.tidy(() => runSequence(nru.cell!, nru.params(), tf.slice(x, [0, 0, 0], [-1, t, -1]) as tf.Tensor3D, { training: false, returnSequences: false, recordSignals: true }).state.m.arraySync() as number[][]);
      state.forEach((row, b) => row.forEach((v, j) => expect(m[t - 1][b][j]).toBeCloseTo(v, 5)));
    }
    // … and the image holds |m_t − m_{t−1}| of the batch's first sequence, m_0 = 0.
    for (let j = 0; j < 4; j++) for (let t = 0; t < 7; t++) expect(layer.change[j][t]).toBeCloseTo(Math.abs(m[t][0][j] - (t ? m[t - 1][0][j] : 0)), 6);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('names the signals a model has when asked for another', async () => {
    const dir = tmp();
    const file = spec(dir, 'tiny.rnn', TINY);
    const r = await cli(['probe', file, '--signal', 'k', '--out', join(dir, 'o')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("no cell layer of this model emits the signal 'k'; they emit: input, forget, output, c");
  });
});
