import { describe, expect, it } from 'vitest';
import { JANET } from '@cellstack/core';
import { KERNELS, buildCell, compareFused, fusedTrainingCurves } from '@cellstack/core/testing';

const shapes = [
  { batch: 1, time: 1, inputSize: 1, units: 1 },
  { batch: 3, time: 7, inputSize: 5, units: 9 },
  { batch: 2, time: 13, inputSize: 3, units: 17 },
  { batch: 5, time: 4, inputSize: 2, units: 8 },
];

// beta changes the math; tmax only the forget-bias init (null: from the timesteps, else fixed).
const optionSets = [
  { beta: 1, tmax: null },
  { beta: 0, tmax: 10 },
  { beta: -0.5, tmax: null },
  { beta: 2.5, tmax: 3 },
];

describe.each(KERNELS)('%s kernel', (kernel) => {
  describe.each(optionSets)('JANET fused kernel (beta $beta, tmax $tmax)', (options) => {
    it.each(shapes)('matches the generic loop: B $batch, T $time, F $inputSize, H $units', ({ units, ...shape }) => {
      const built = buildCell(JANET, { units, ...options }, { inputSize: shape.inputSize, timesteps: shape.time, seed: 3 });
      const r = compareFused(built, { ...shape, kernel });
      expect(r.fusedRuns).toBe(1);
      for (const [what, err] of Object.entries(r.errors)) expect(err, what).toBeLessThan(1e-4);
      expect(Object.keys(r.errors).sort()).toEqual(['grad.bias', 'grad.kernel', 'grad.recurrent', 'grad.state.h', 'grad.x', 'output', 'state.h']);
      built.dispose();
    });
  });
});

describe('JANET fused kernel in training', () => {
  it.each([1, 0.3])('beta %s: a seeded 2-layer run gives the generic loss curve (rel 1e-4)', async (beta) => {
    const layer = { cell: 'JANET', options: { units: 6, beta } };
    const { generic, fused } = await fusedTrainingCurves([JANET], [layer, layer], { steps: 15 });
    expect(generic[14]).toBeLessThan(generic[0]);
    fused.forEach((l, i) => expect(Math.abs(l - generic[i]) / generic[i], `step ${i}`).toBeLessThan(1e-4));
  });
});
