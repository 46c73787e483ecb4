import { describe, expect, it } from 'vitest';
import { buildCell, randomArray3, runCell, sigmoid } from '@cellstack/core/testing';
import { RRU, type RRUNormalize } from '../src/index.js';
import { asValues, randomWeights, stepRef } from './reference.js';

// m = 2, n = 3, q = 1 → g = 5, p = 2
const sizes = { m: 2, n: 3, g: 5, p: 2 };

describe('RRU step', () => {
  const cases: Array<{ normalize: RRUNormalize; reluLayers: number; singleZ: boolean; sScale: number }> = [
    { normalize: 'rms', reluLayers: 1, singleZ: false, sScale: 10 },
    { normalize: 'rms', reluLayers: 2, singleZ: false, sScale: 10 },
    { normalize: 'rms', reluLayers: 3, singleZ: true, sScale: 10 },
    { normalize: 'none', reluLayers: 1, singleZ: true, sScale: 1 },
    { normalize: 'none', reluLayers: 2, singleZ: false, sScale: 10 },
    { normalize: 'none', reluLayers: 3, singleZ: false, sScale: 1 },
    { normalize: 'l2', reluLayers: 2, singleZ: false, sScale: 10 },
  ];
  for (const c of cases) {
    it(`matches the equations: normalize ${c.normalize}, reluLayers ${c.reluLayers}, ${c.singleZ ? 'single' : 'per-feature'} Z, sScale ${c.sScale}`, () => {
      const w = randomWeights(sizes, c.reluLayers, c.singleZ, 10 * c.reluLayers + (c.singleZ ? 1 : 0));
      const cell = buildCell(RRU, { units: 3, outputSize: 2, q: 1, dropout: 0, ...c }, { inputSize: 2, values: asValues(w) });
      // Two sequences, two steps: step 2 reads the state step 1 wrote.
      const x = randomArray3(2, 2, 2, 3 + c.reluLayers);
      const h0 = [
        [0.3, -0.2, 0.5],
        [-0.4, 0.1, 0.25],
      ];
      const r = runCell(cell, x, { initialState: { h: h0 } });
      for (let b = 0; b < 2; b++) {
        let h = h0[b];
        for (let t = 0; t < 2; t++) {
          const e = stepRef(w, x[b][t], h, c.normalize, c.sScale);
          r.outputs[b][t].forEach((v, k) => expect(v).toBeCloseTo(e.o[k], 5));
          r.signals.candidate[t][b].forEach((v, k) => expect(v).toBeCloseTo(e.c[k], 5));
          h = e.h;
        }
        r.state.h[b].forEach((v, k) => expect(v).toBeCloseTo(h[k], 5));
      }
      r.signals.sigmoidS[0][0].forEach((v, k) => expect(v).toBeCloseTo(sigmoid(c.sScale * w.S[k]), 6));
      expect(r.signals.Z[0][0]).toHaveLength(w.Z.length);
      r.signals.Z[0][0].forEach((v, k) => expect(v).toBeCloseTo(w.Z[k], 6));
      cell.dispose();
    });
  }

  it('starts from h_0 = [√n/4, 0, …, 0] when no state is given', () => {
    const w = randomWeights(sizes, 1, false, 5);
    const cell = buildCell(RRU, { units: 3, outputSize: 2, q: 1, dropout: 0 }, { inputSize: 2, values: asValues(w) });
    const x = randomArray3(1, 1, 2, 9);
    const r = runCell(cell, x);
    const e = stepRef(w, x[0][0], [Math.sqrt(3) / 4, 0, 0], 'rms', 10);
    r.outputs[0][0].forEach((v, k) => expect(v).toBeCloseTo(e.o[k], 5));
    r.state.h[0].forEach((v, k) => expect(v).toBeCloseTo(e.h[k], 5));
    cell.dispose();
  });
});
