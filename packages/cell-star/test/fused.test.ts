import { describe, expect, it } from 'vitest';
import { KERNELS, buildCell, compareFused, fusedTrainingCurves } from '@cellstack/core/testing';
import { STAR } from '../src/index.js';

const shapes = [
  { batch: 1, time: 1, inputSize: 1, units: 1 },
  { batch: 3, time: 7, inputSize: 5, units: 9 },
  { batch: 2, time: 13, inputSize: 3, units: 17 },
  { batch: 5, time: 4, inputSize: 2, units: 8 },
];

describe.each(KERNELS)('%s kernel', (kernel) => {
  describe.each(['paper', 'official'] as const)('STAR %s fused kernel', (variant) => {
    it.each(shapes)('matches the generic loop: B $batch, T $time, F $inputSize, H $units', ({ units, ...shape }) => {
      const built = buildCell(STAR, { units, variant, tmax: 10 }, { inputSize: shape.inputSize, seed: 3 });
      const r = compareFused(built, { ...shape, kernel });
      expect(r.fusedRuns).toBe(1);
      for (const [what, err] of Object.entries(r.errors)) expect(err, what).toBeLessThan(1e-4);
      expect(Object.keys(r.errors).sort()).toEqual(['grad.bias', 'grad.kernel', 'grad.recurrent', 'grad.state.h', 'grad.x', 'output', 'state.h']);
      built.dispose();
    });
  });
});

describe('STAR fused kernel in training', () => {
  it.each(KERNELS.flatMap((kernel) => (['paper', 'official'] as const).map((variant) => [variant, kernel] as const)))('%s, %s kernel: a seeded 2-layer run gives the generic loss curve (rel 1e-4)', async (variant, kernel) => {
    const layer = { cell: 'STAR', options: { units: 6, variant } };
    const { generic, fused } = await fusedTrainingCurves([STAR], [layer, layer], { steps: 15, kernel });
    expect(generic[14]).toBeLessThan(generic[0]);
    fused.forEach((l, i) => expect(Math.abs(l - generic[i]) / generic[i], `step ${i}`).toBeLessThan(1e-4));
  });
});
