import { describe, expect, it } from 'vitest';
import { KERNELS, buildCell, compareFused, fusedTrainingCurves } from '@cellstack/core/testing';
import { NRU, type NRUOptions } from '../src/index.js';

// Square heads (1, 4, 9) so each memory suits both outer products; memory 9 with 4 heads and
// 25 with 9 heads make the shared product's heads straddle its rows (s = 6 and 15).
const shapes = [
  { batch: 1, time: 1, inputSize: 1, hidden: 1, memory: 1, heads: 1 },
  { batch: 3, time: 7, inputSize: 5, hidden: 9, memory: 9, heads: 4 },
  { batch: 2, time: 13, inputSize: 3, hidden: 17, memory: 16, heads: 1 },
  { batch: 5, time: 4, inputSize: 2, hidden: 6, memory: 25, heads: 9 },
];

// memoryInit only sets initial values, so the kernel has no case for it.
type MathOptions = Omit<NRUOptions, 'hidden' | 'memory' | 'heads' | 'memoryInit'>;
const defaults: MathOptions = { headReduce: 'mean', headInputs: 'hm', outerProduct: 'shared', useRelu: false, layerNorm: false };
const alternatives: MathOptions = { headReduce: 'sum', headInputs: 'xhm', outerProduct: 'perHead', useRelu: true, layerNorm: true };
// The defaults, each option changed alone, and every alternative at once.
const variants: Array<[string, MathOptions]> = [
  ['defaults', defaults],
  ...(Object.keys(defaults) as Array<keyof MathOptions>).map((key): [string, MathOptions] => [`${key} ${String(alternatives[key])}`, { ...defaults, [key]: alternatives[key] }]),
  ['every alternative', alternatives],
];

describe.each(KERNELS)('%s kernel', (kernel) => {
  describe.each(variants)('NRU fused kernel, %s', (_, variant) => {
    it.each(shapes)('matches the generic loop: B $batch, T $time, F $inputSize, h $hidden, m $memory, k $heads', ({ hidden, memory, heads, ...shape }) => {
      const built = buildCell(NRU, { ...variant, hidden, memory, heads }, { inputSize: shape.inputSize, seed: 3 });
      const r = compareFused(built, { ...shape, kernel });
      expect(r.fusedRuns).toBe(1);
      for (const [what, err] of Object.entries(r.errors)) expect(err, what).toBeLessThan(1e-4);
      const params = ['bias', 'headBias', 'headKernel', 'kernel', 'memoryKernel', 'recurrent', ...(variant.layerNorm ? ['lnBias', 'lnGain'] : [])];
      const keys = ['output', 'state.h', 'state.m', 'grad.x', 'grad.state.h', 'grad.state.m', ...params.map((p) => `grad.${p}`)];
      expect(Object.keys(r.errors).sort()).toEqual(keys.sort());
      built.dispose();
    });
  });
});

describe('NRU fused kernel in training', () => {
  // Memory 9, not 4: with one row of the shared product per head a direction ignores the size
  // of its p, so p's gradient is rounding noise that Adam scales up to full steps. Every
  // alternative with 1 head: with 4 summed heads this 2-layer run is chaotic at Adam 0.02 (the
  // generic loop's own cpu and wasm curves part by 1e-2 within 15 steps).
  it.each([
    ['defaults', { hidden: 6, memory: 9, heads: 4 }, 5],
    ['every alternative', { hidden: 6, memory: 16, heads: 1, ...alternatives }, 6],
  ] as const)('%s: a seeded 2-layer run gives the generic loss curve (rel 1e-4)', async (_, options, seed) => {
    const layer = { cell: 'NRU', options };
    const { generic, fused } = await fusedTrainingCurves([NRU], [layer, layer], { steps: 15, seed });
    expect(generic[14]).toBeLessThan(generic[0]);
    fused.forEach((l, i) => expect(Math.abs(l - generic[i]) / generic[i], `step ${i}`).toBeLessThan(1e-4));
  });
});
