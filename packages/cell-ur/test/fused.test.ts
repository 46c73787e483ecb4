import { describe, expect, it } from 'vitest';
import { KERNELS, buildCell, compareFused, fusedTrainingCurves, sharedDraws, type BuiltCell } from '@cellstack/core/testing';
import type { KernelPreference } from '@cellstack/core';
import { URGRU, URLSTM } from '../src/index.js';
import { PRESET_NAMES, hasGateBias } from './reference.js';

// Odd sizes and B = T = 1; each chunk divides its units, leaving 3 or 4 master gates.
const shapes = [
  { batch: 1, time: 1, inputSize: 1, units: 3, chunk: 1 },
  { batch: 3, time: 7, inputSize: 5, units: 9, chunk: 3 },
  { batch: 2, time: 13, inputSize: 3, units: 15, chunk: 5 },
  { batch: 5, time: 4, inputSize: 2, units: 8, chunk: 2 },
];

const cells = {
  URLSTM: { plugin: URLSTM, keys: ['grad.bias', 'grad.kernel', 'grad.recurrent', 'grad.state.c', 'grad.state.h', 'grad.x', 'output', 'state.c', 'state.h'] },
  URGRU: { plugin: URGRU, keys: ['grad.bias', 'grad.kernel', 'grad.recurrentCandidate', 'grad.recurrentGates', 'grad.state.h', 'grad.x', 'output', 'state.h'] },
};

function expectMatch(built: BuiltCell, shape: { batch: number; time: number; inputSize: number }, keys: string[], training = false, kernel: KernelPreference = 'hand-written') {
  const r = compareFused(built, { ...shape, training, kernel });
  expect(r.fusedRuns).toBe(1);
  expect(Object.keys(r.errors).sort()).toEqual(keys);
  for (const [what, err] of Object.entries(r.errors)) expect(err, what).toBeLessThan(1e-4);
}

const withGateBias = (keys: string[], preset: (typeof PRESET_NAMES)[number]) => (hasGateBias(preset) ? [...keys, 'grad.gateBias'].sort() : keys);

describe.each(KERNELS)('%s kernel', (kernel) => {
  describe.each(Object.entries(cells))('%s fused kernel', (_name, { plugin, keys }) => {
    describe.each(PRESET_NAMES)("preset '%s'", (preset) => {
      it.each(shapes)('matches the generic loop: B $batch, T $time, F $inputSize, H $units (chunk $chunk)', ({ units, chunk, ...shape }) => {
        const built = buildCell(plugin, { units, preset, chunkSize: chunk }, { inputSize: shape.inputSize, seed: 3 });
        expectMatch(built, shape, withGateBias(keys, preset), false, kernel);
        built.dispose();
      });
    });

    it.each([
      ["refineBias 'independent'", { refineBias: 'independent' }],
      ["chrono refine ('CR-')", { init: 'chrono', refine: 'refine', tmax: 30 }],
      ['frozen UGI master gates', { preset: 'UM-', chunkSize: 3, gateBias: 'frozen' }],
    ])('matches with %s', (_what, options) => {
      const built = buildCell(plugin, { units: 9, ...options }, { inputSize: 5, seed: 4 });
      expectMatch(built, shapes[1], withGateBias(keys, 'UR-'), false, kernel);
      built.dispose();
    });
  });
});

describe('zoneout in the fused kernels', () => {
  const zoneout = { URLSTM: { zc: 0.5, zh: 0.3 }, URGRU: { zh: 0.3 } };

  describe.each(Object.entries(cells))('%s', (name, { plugin, keys }) => {
    const z = zoneout[name as keyof typeof zoneout];
    it.each(KERNELS.flatMap((k) => (['UR-', 'OM-'] as const).map((preset) => [preset, k] as const)))("inference (the expectation) matches, preset '%s', %s kernel", (preset, kernel) => {
      const built = buildCell(plugin, { units: 9, preset, chunkSize: 3, ...z }, { inputSize: 5, seed: 5 });
      expectMatch(built, shapes[1], withGateBias(keys, preset), false, kernel);
      built.dispose();
    });

    it.each(['UR-', 'OM-'] as const)("training draws the step loop's masks, preset '%s'", (preset) => {
      // Two cells of one layer seed draw the same masks: the steps of one against the kernel of the other.
      const options = { units: 9, preset, chunkSize: 3, ...z };
      const a = buildCell(plugin, options, { inputSize: 5, seed: 6 });
      const b = buildCell(plugin, options, { inputSize: 5, seed: 6 });
      expectMatch({ ...a, cell: { ...a.cell, fused: b.cell.fused } }, shapes[1], withGateBias(keys, preset), true);
      a.dispose();
      b.dispose();
    });

    it('training without zoneout runs the kernel', () => {
      const built = buildCell(plugin, { units: 8, preset: 'OR-' }, { inputSize: 2, seed: 7 });
      expectMatch(built, shapes[3], keys, true);
      built.dispose();
    });
  });
});

describe('fused kernels in training', () => {
  it.each([
    ['URLSTM UR-', { cell: 'URLSTM', options: { units: 6 } }, { cell: 'URLSTM', options: { units: 6 } }],
    ['URGRU UR-', { cell: 'URGRU', options: { units: 6 } }, { cell: 'URGRU', options: { units: 6 } }],
    ['zoneout, master and cumax gates', { cell: 'URLSTM', options: { units: 6, preset: 'OM-', chunkSize: 2, zc: 0.5, zh: 0.05 } }, { cell: 'URGRU', options: { units: 6, preset: 'OR-', zh: 0.1 } }],
  ])('%s: a seeded 2-layer run gives the generic loss curve (rel 1e-4)', async (_what, first, second) => {
    const { generic, fused } = await fusedTrainingCurves([URLSTM, URGRU], [first, second], { steps: 15 });
    expect(generic[14]).toBeLessThan(generic[0]);
    fused.forEach((l, i) => expect(Math.abs(l - generic[i]) / generic[i], `step ${i}`).toBeLessThan(1e-4));
  });
});

describe('UR cells traced', () => {
  // Masks of every step drawn in begin and read per step: the traced kernel drops what the loop does.
  it.each([
    ['URLSTM', URLSTM, { units: 9, chunkSize: 3, zc: 0.5, zh: 0.3 }],
    ['URLSTM', URLSTM, { units: 9, preset: 'OM-', chunkSize: 3, zh: 0.3 }],
    ['URGRU', URGRU, { units: 9, preset: 'OR-', zh: 0.3 }],
  ] as const)('%s %o with zoneout in training traces and matches the generic loop', (_name, plugin, options) => {
    const [a, b, other] = [6, 6, 7].map((seed) => buildCell(plugin, options, { inputSize: 5, seed }));
    const r = compareFused(sharedDraws(a, b), { ...shapes[1], training: true, kernel: 'traced' });
    expect(r.path).toBe('traced');
    for (const [what, err] of Object.entries(r.errors)) expect(err, what).toBeLessThan(1e-4);
    // The comparison sees the masks: another layer seed's draws give other outputs.
    expect(compareFused(sharedDraws(a, other), { ...shapes[1], training: true, kernel: 'traced' }).errors.output).toBeGreaterThan(0.01);
    [a, b, other].forEach((c) => c.dispose());
  });

  it('a seeded 2-layer run on the traced kernels gives the generic loss curve (rel 1e-4)', async () => {
    const layers = [{ cell: 'URLSTM', options: { units: 6 } }, { cell: 'URGRU', options: { units: 6, preset: 'OR-' } }];
    const { generic, fused } = await fusedTrainingCurves([URLSTM, URGRU], layers, { steps: 15, kernel: 'traced' });
    expect(generic[14]).toBeLessThan(generic[0]);
    fused.forEach((l, i) => expect(Math.abs(l - generic[i]) / generic[i], `step ${i}`).toBeLessThan(1e-4));
  });
});
