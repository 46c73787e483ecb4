import { describe, expect, it } from 'vitest';
import { createRng } from '@cellstack/core';
import { buildCell, runCell } from '@cellstack/core/testing';
import { NRU, type NRUOptions } from '../src/index.js';
import { pack, randomWeights, refStep } from './reference.js';

// Tiny sizes from the issue: x 2, h 3, m 4; k 1 and k 4, every option combination.
const F = 2;
const combos: NRUOptions[] = [];
for (const heads of [1, 4])
  for (const headReduce of ['mean', 'sum'] as const)
    for (const headInputs of ['hm', 'xhm'] as const)
      for (const outerProduct of ['shared', 'perHead'] as const)
        for (const useRelu of [false, true])
          for (const layerNorm of [false, true]) combos.push({ hidden: 3, memory: 4, heads, headReduce, headInputs, outerProduct, useRelu, layerNorm, memoryInit: 'torch' });

const label = (o: NRUOptions) =>
  `k ${o.heads}, ${o.headReduce}, ${o.headInputs}, ${o.outerProduct}${o.useRelu ? ', relu' : ''}${o.layerNorm ? ', layerNorm' : ''}`;

describe('NRU one step equals the equations (plain-JS reference)', () => {
  it.each(combos.map((o, i) => [label(o), o, i] as const))('%s', (_, o, i) => {
    const w = randomWeights(o, F, 100 + i);
    const cell = buildCell(NRU, o as unknown as Record<string, unknown>, { inputSize: F, values: pack(o, w, F) });
    const rng = createRng(7 + i);
    const r3 = (n: number, lo = -1) => Array.from({ length: n }, () => rng.uniform(lo, 1));
    // Batch 2, from a non-zero state so W_c and the memory path matter.
    const x = [
      [r3(F), r3(F)],
      [r3(F), r3(F)],
    ];
    const h0 = [r3(3, 0), r3(3, 0)];
    const m0 = [r3(4), r3(4)];
    // Two single steps: the second starts from the reference's state after the first, so
    // float32 rounding does not compound across steps.
    let h = h0;
    let m = m0;
    let moved = 0;
    for (let t = 0; t < 2; t++) {
      const got = runCell(cell, x.map((row) => [row[t]]), { initialState: { h, m } });
      const want = [0, 1].map((b) => refStep(o, w, x[b][t], h[b], m[b]));
      want.forEach((wb, b) => {
        wb.h.forEach((v, j) => expect(got.outputs[b][0][j]).toBeCloseTo(v, 4));
        wb.h.forEach((v, j) => expect(got.state.h[b][j]).toBeCloseTo(v, 4));
        wb.m.forEach((v, j) => expect(got.state.m[b][j]).toBeCloseTo(v, 4));
        wb.m.forEach((v, j) => expect(got.signals.m[0][b][j]).toBeCloseTo(v, 4));
        wb.alpha.forEach((v, j) => expect(got.signals.alpha[0][b][j]).toBeCloseTo(v, 4));
        wb.beta.forEach((v, j) => expect(got.signals.beta[0][b][j]).toBeCloseTo(v, 4));
        moved = Math.max(moved, ...wb.m.map((v, j) => Math.abs(v - m[b][j])));
      });
      h = want.map((wb) => wb.h);
      m = want.map((wb) => wb.m);
    }
    // The memory must actually move, or the check above says little about the heads.
    expect(moved).toBeGreaterThan(1e-3);
    cell.dispose();
  });

  it('ReLU heads write non-negative α, β and the sign of the update is only through β', () => {
    const o = combos.find((c) => c.useRelu && c.heads === 4)!;
    const w = randomWeights(o, F, 5);
    const cell = buildCell(NRU, o as unknown as Record<string, unknown>, { inputSize: F, values: pack(o, w, F) });
    const r = runCell(cell, [[[0.3, -0.7], [1, 0.2], [-0.4, 0.9]]]);
    const all = [...r.signals.alpha.flat(2), ...r.signals.beta.flat(2)];
    expect(Math.min(...all)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...all)).toBeGreaterThan(0);
    cell.dispose();
  });

  it('initialises like PyTorch nn.Linear: U(±1/√fan_in), fan_in = x+h+m for h, h+m for the heads', () => {
    // x 5, h 20, m 16, k 4: heads width D = 2·4 + 4·8 = 40.
    const cell = buildCell(NRU, { hidden: 20, memory: 16, heads: 4 }, { inputSize: 5, seed: 3 });
    const absMax = (v: ArrayLike<number>) => Math.max(...Array.from(v, Math.abs));
    const mem = cell.params.memoryKernel.arraySync() as number[][];
    const blocks: Array<[string, number[], number]> = [
      ['kernel', Array.from(cell.params.kernel.dataSync()), 41],
      ['recurrent', Array.from(cell.params.recurrent.dataSync()), 41],
      ['bias', Array.from(cell.params.bias.dataSync()), 41],
      ['memoryKernel → h', mem.flatMap((row) => row.slice(0, 20)), 41],
      ['memoryKernel → heads', mem.flatMap((row) => row.slice(20)), 36],
      ['headKernel', Array.from(cell.params.headKernel.dataSync()), 36],
      ['headBias', Array.from(cell.params.headBias.dataSync()), 36],
    ];
    expect(mem[0]).toHaveLength(60);
    for (const [name, values, fanIn] of blocks) {
      expect(absMax(values), name).toBeLessThanOrEqual(1 / Math.sqrt(fanIn));
      expect(absMax(values), name).toBeGreaterThan(0.8 / Math.sqrt(fanIn));
    }
    cell.dispose();
  });
});
