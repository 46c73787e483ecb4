import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { runtimeOf, type CellLayer } from '@cellstack/core';
import { sigmoid } from '@cellstack/core/testing';
import { memoryChange, probe, unitMeans, type LayerSignal } from '../src/index.js';

const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' });
const F = 2;
const H = 2;
const T = 3;
const build = () => rt.build({ input: { shape: [T, F] }, layers: [{ cell: 'LSTM', options: { units: H }, repeat: 2 }, { type: 'last' }, { type: 'dense', units: 1 }], seed: 5 });
const xs = [
  [[0.5, -1], [0.2, 0.3], [-0.7, 0.9]],
  [[1, 0], [0, 1], [-1, -1]],
];

/** The LSTM of Hochreiter & Schmidhuber in plain JS (gate blocks i, f, c̃, o): hidden states, forget gates and cell states [B][T][H]. */
function lstm(x: number[][][], W: number[][], U: number[][], b: number[]) {
  const hs: number[][][] = [];
  const fs: number[][][] = [];
  const cs: number[][][] = [];
  for (const seq of x) {
    let h = new Array<number>(H).fill(0);
    let c = new Array<number>(H).fill(0);
    const hSeq: number[][] = [];
    const fSeq: number[][] = [];
    const cSeq: number[][] = [];
    for (const xt of seq) {
      const z = b.map((bj, j) => bj + xt.reduce((s, v, i) => s + v * W[i][j], 0) + h.reduce((s, v, i) => s + v * U[i][j], 0));
      const gate = (k: number, j: number) => z[k * H + j];
      const f = h.map((_, j) => sigmoid(gate(1, j)));
      c = c.map((cj, j) => f[j] * cj + sigmoid(gate(0, j)) * Math.tanh(gate(2, j)));
      h = c.map((cj, j) => sigmoid(gate(3, j)) * Math.tanh(cj));
      hSeq.push(h);
      fSeq.push(f);
      cSeq.push(c);
    }
    hs.push(hSeq);
    fs.push(fSeq);
    cs.push(cSeq);
  }
  return { hs, fs, cs };
}

/** The model with tiny fixed weights in both LSTM layers (kernel, recurrent kernel, bias per layer). */
function tinyModel() {
  const model = build();
  const cells = model.layers.filter((l) => l.getClassName() === 'cellstack.LSTM') as CellLayer[];
  const weights = cells.map((_, l) => [
    Array.from({ length: H }, (_, i) => Array.from({ length: 4 * H }, (_, j) => 0.1 * Math.sin(1 + i + 3 * j + l))),
    Array.from({ length: H }, (_, i) => Array.from({ length: 4 * H }, (_, j) => 0.2 * Math.cos(2 + 2 * i + j + l))),
    Array.from({ length: 4 * H }, (_, j) => 0.05 * (j - 3 - l)),
  ]);
  // Layer 1 reads F = H = 2 features, so both layers share the shapes.
  cells.forEach((layer, l) => layer.setWeights(weights[l].map((w) => tf.tensor(w as number[]))));
  return { model, cells, weights };
}

describe('probe', () => {
  it('returns the forget gate of every layer, equal to an independent computation on tiny weights', () => {
    const { model, cells, weights } = tinyModel();
    const x = tf.tensor3d(xs);
    const r = probe(model, x, { signal: 'forget' });
    expect(r.signals.map((s) => [s.layer, s.cell, s.signal])).toEqual(cells.map((c) => [c.name, 'LSTM', 'forget']));
    let input = xs;
    for (const [l, s] of r.signals.entries()) {
      const [W, U, b] = weights[l] as [number[][], number[][], number[]];
      const ref = lstm(input, W, U, b);
      // Signals are time-major [T][B][k].
      for (let t = 0; t < T; t++) for (let bi = 0; bi < xs.length; bi++) for (let j = 0; j < H; j++) expect(s.values[t][bi][j]).toBeCloseTo(ref.fs[bi][t][j], 5);
      input = ref.hs;
    }
    expect(unitMeans(r.signals[0].values)[0]).toBeCloseTo(r.signals[0].values.flat().reduce((a, row) => a + row[0], 0) / (T * xs.length), 6);
    r.output.dispose();
    x.dispose();
    model.dispose();
  });

  it('does not change the outputs and leaks no tensors, for a gate and for a state signal', () => {
    const model = build();
    const x = tf.tensor3d(xs);
    const plain = model.predict(x) as tf.Tensor;
    const expected = plain.arraySync() as number[][];
    plain.dispose();
    probe(model, x, { signal: 'c' }).output.dispose(); // warm-up
    for (const signal of ['forget', 'c']) {
      const before = tf.memory().numTensors;
      const r = probe(model, x, { signal });
      // Probing runs the cell's step function; a plain predict may run the cell's fused
      // whole-sequence kernel instead (LSTM on wasm/cpu), equal up to float rounding.
      const got = (r.output.arraySync() as number[][]).flat();
      expected.flat().forEach((v, i) => expect(Math.abs(got[i] - v)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(v))));
      r.output.dispose();
      expect(tf.memory().numTensors).toBe(before);
    }
    // The model itself is unchanged: bit for bit the same output as before probing.
    const after = model.predict(x) as tf.Tensor;
    expect(after.arraySync()).toEqual(expected);
    after.dispose();
    // Recording is switched off again.
    for (const l of model.layers as CellLayer[]) if ('recordSignals' in l) expect(l.recordSignals).toBe(false);
    x.dispose();
    model.dispose();
  });

  it("marks a state signal, records its initial value, and its memory change equals |c_t − c_{t−1}| of an independent LSTM", () => {
    const { model, weights } = tinyModel();
    const x = tf.tensor3d(xs);
    const gate = probe(model, x, { signal: 'forget' });
    gate.output.dispose();
    expect(gate.signals.map((s) => [s.state, s.initial])).toEqual([[undefined, undefined], [undefined, undefined]]);
    const r = probe(model, x, { signal: 'c' });
    r.output.dispose();
    let input = xs;
    for (const [l, s] of r.signals.entries()) {
      expect(s.state).toBe(true);
      // The LSTM starts from zeros.
      expect(s.initial).toEqual(xs.map(() => new Array<number>(H).fill(0)));
      const [W, U, b] = weights[l] as [number[][], number[][], number[]];
      const ref = lstm(input, W, U, b);
      for (let bi = 0; bi < xs.length; bi++) {
        const c = memoryChange(s, bi);
        expect([c.layer, c.cell, c.signal, c.sequence, c.firstStep]).toEqual([s.layer, 'LSTM', 'c', bi, 1]);
        // Units (rows) × steps (columns).
        expect(c.change).toHaveLength(H);
        for (let j = 0; j < H; j++) {
          expect(c.change[j]).toHaveLength(T);
          for (let t = 0; t < T; t++) {
            // From the independent LSTM's cell states, c_0 = 0 …
            expect(c.change[j][t]).toBeCloseTo(Math.abs(ref.cs[bi][t][j] - (t ? ref.cs[bi][t - 1][j] : 0)), 5);
            // … and exactly from the recorded ones.
            expect(c.change[j][t]).toBe(Math.abs(s.values[t][bi][j] - (t ? s.values[t - 1][bi][j] : 0)));
          }
        }
      }
      input = ref.hs;
    }
    x.dispose();
    model.dispose();
  });

  it('starts the memory change at step 2 when the initial value is unknown, and checks the sequence index', () => {
    const s: LayerSignal = { layer: 'l', cell: 'X', signal: 'm', values: [[[1, -2]], [[3, -2]], [[0, 0.5]]], state: true };
    expect(memoryChange(s)).toEqual({ layer: 'l', cell: 'X', signal: 'm', sequence: 0, firstStep: 2, change: [[2, 3], [0, 2.5]] });
    expect(memoryChange({ ...s, initial: [[1, 0]] }).change).toEqual([[0, 2, 3], [2, 0, 2.5]]);
    expect(() => memoryChange(s, 1)).toThrow('sequence 1 is not in the batch of 1');
  });

  it('names the signals that exist when asked for an unknown one', () => {
    const model = build();
    const x = tf.tensor3d(xs);
    expect(() => probe(model, x, { signal: 'forgot' })).toThrow("no cell layer of this model emits the signal 'forgot'; they emit: input, forget, output, c");
    x.dispose();
    model.dispose();
  });
});
