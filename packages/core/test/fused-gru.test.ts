import { describe, expect, it } from 'vitest';
import { GRU } from '@cellstack/core';
import { KERNELS, buildCell, compareFused, fusedTrainingCurves } from '@cellstack/core/testing';

const shapes = [
  { batch: 1, time: 1, inputSize: 1, units: 1 },
  { batch: 3, time: 7, inputSize: 5, units: 9 },
  { batch: 2, time: 13, inputSize: 3, units: 17 },
  { batch: 5, time: 4, inputSize: 2, units: 8 },
  { batch: 6, time: 3, inputSize: 4, units: 12 },
];

// GRU's only option is `units`; the seeds vary the weights and the initial state.
describe.each(KERNELS)('%s kernel', (kernel) => {
  describe.each([3, 8])('GRU fused kernel (seed %i)', (seed) => {
    it.each(shapes)('matches the generic loop: B $batch, T $time, F $inputSize, H $units', ({ units, ...shape }) => {
      const built = buildCell(GRU, { units }, { inputSize: shape.inputSize, seed });
      const r = compareFused(built, { ...shape, seed, kernel });
      expect(r.fusedRuns).toBe(1);
      for (const [what, err] of Object.entries(r.errors)) expect(err, what).toBeLessThan(1e-4);
      expect(Object.keys(r.errors).sort()).toEqual([
        'grad.bias',
        'grad.kernel',
        'grad.recurrentCandidate',
        'grad.recurrentGates',
        'grad.state.h',
        'grad.x',
        'output',
        'state.h',
      ]);
      built.dispose();
    });
  });
});

describe('GRU fused kernel in training', () => {
  it('a seeded 2-layer run gives the generic loss curve (rel 1e-4)', async () => {
    const layer = { cell: 'GRU', options: { units: 6 } };
    const { generic, fused } = await fusedTrainingCurves([GRU], [layer, layer], { steps: 15 });
    expect(generic[14]).toBeLessThan(generic[0]);
    fused.forEach((l, i) => expect(Math.abs(l - generic[i]) / generic[i], `step ${i}`).toBeLessThan(1e-4));
  });
});
