import { describe, expect, it } from 'vitest';
import { LSTM } from '@cellstack/core';
import { KERNELS, buildCell, compareFused, fusedTrainingCurves } from '@cellstack/core/testing';

const shapes = [
  { batch: 1, time: 1, inputSize: 1, units: 1 },
  { batch: 3, time: 7, inputSize: 5, units: 9 },
  { batch: 2, time: 13, inputSize: 3, units: 17 },
  { batch: 5, time: 4, inputSize: 2, units: 8 },
  { batch: 6, time: 3, inputSize: 4, units: 12 },
];

// The options only change the initial bias, so they vary the operating point, not the equations.
const optionSets = {
  default: {},
  chrono: { chrono: true, tmax: 20 },
  'forgetBias 3': { forgetBias: 3 },
};

describe.each(KERNELS)('%s kernel', (kernel) => {
  describe.each(Object.entries(optionSets))('LSTM fused kernel (%s)', (_, options) => {
    it.each(shapes)('matches the generic loop: B $batch, T $time, F $inputSize, H $units', ({ units, ...shape }) => {
      const built = buildCell(LSTM, { units, ...options }, { inputSize: shape.inputSize, seed: 3 });
      const r = compareFused(built, { ...shape, kernel });
      expect(r.fusedRuns).toBe(1);
      for (const [what, err] of Object.entries(r.errors)) expect(err, what).toBeLessThan(1e-4);
      expect(Object.keys(r.errors).sort()).toEqual([
        'grad.bias',
        'grad.kernel',
        'grad.recurrent',
        'grad.state.c',
        'grad.state.h',
        'grad.x',
        'output',
        'state.c',
        'state.h',
      ]);
      built.dispose();
    });
  });
});

describe('LSTM fused kernel in training', () => {
  it('a seeded 2-layer run gives the generic loss curve (rel 1e-4)', async () => {
    const layer = { cell: 'LSTM', options: { units: 6 } };
    const { generic, fused } = await fusedTrainingCurves([LSTM], [layer, layer], { steps: 15 });
    expect(generic[14]).toBeLessThan(generic[0]);
    fused.forEach((l, i) => expect(Math.abs(l - generic[i]) / generic[i], `step ${i}`).toBeLessThan(1e-4));
  });
});
