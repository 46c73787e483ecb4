import { describe, expect, it } from 'vitest';
import { KERNELS, buildCell, compareFused, fusedTrainingCurves } from '@cellstack/core/testing';
import { DMU, blockWidths, type DMUOptions } from '../src/index.js';

const shapes = [
  { batch: 1, time: 1, inputSize: 1, units: 1 },
  { batch: 3, time: 7, inputSize: 5, units: 9 },
  { batch: 2, time: 13, inputSize: 3, units: 17 },
  { batch: 5, time: 4, inputSize: 2, units: 8 },
];

/** Every option that changes the kernel's math: block depth 1–4, each hidden φ, each candidate f. */
const variants: Array<Partial<DMUOptions>> = [
  {},
  { layers: [], candidateActivation: 'sigmoid' },
  { layers: [7, 5], activation: 'relu', candidateActivation: 'softsign', zBias: 1 },
  { layers: [6, 3, 5], activation: 'tanh', candidateActivation: 'linear', zBias: 0 },
  { layers: [5], activation: 'sigmoid', depthScaledLr: false },
  { layers: [3, 6], activation: 'linear', zBias: -1 },
];

const expectedKeys = (units: number, layers: number[] | null = null) => {
  const n = blockWidths({ units, layers }).length;
  const params = ['kernel1_x', 'kernel1_h', 'bias1'];
  for (let i = 2; i <= n; i++) params.push(`kernel${i}`, `bias${i}`);
  return ['output', 'state.h', 'grad.x', ...params.map((p) => `grad.${p}`), 'grad.state.h'].sort();
};

describe.each(KERNELS)('%s kernel', (kernel) => {
  describe.each(variants)('DMU fused kernel %j', (options) => {
    it.each(shapes)('matches the generic loop: B $batch, T $time, F $inputSize, d $units', ({ units, ...shape }) => {
      const built = buildCell(DMU, { units, ...options }, { inputSize: shape.inputSize, seed: 3 });
      const r = compareFused(built, { ...shape, kernel });
      expect(r.fusedRuns).toBe(1);
      for (const [what, err] of Object.entries(r.errors)) expect(err, what).toBeLessThan(1e-4);
      expect(Object.keys(r.errors).sort()).toEqual(expectedKeys(units, options.layers));
      built.dispose();
    });
  });
});

describe('DMU fused kernel', () => {
  it('runs while training too (the cell draws nothing random)', () => {
    const built = buildCell(DMU, { units: 6, layers: [4] }, { inputSize: 3, seed: 2 });
    const r = compareFused(built, { batch: 2, time: 5, inputSize: 3, training: true });
    expect(r.fusedRuns).toBe(1);
    for (const [what, err] of Object.entries(r.errors)) expect(err, what).toBeLessThan(1e-4);
    built.dispose();
  });

  it('a seeded 2-layer run gives the generic loss curve (rel 1e-4)', async () => {
    const layer = { cell: 'DMU', options: { units: 6, layers: [5, 4], zBias: 1 } };
    const { generic, fused } = await fusedTrainingCurves([DMU], [layer, layer], { steps: 15 });
    expect(generic[14]).toBeLessThan(generic[0]);
    fused.forEach((l, i) => expect(Math.abs(l - generic[i]) / generic[i], `step ${i}`).toBeLessThan(1e-4));
  });
});
