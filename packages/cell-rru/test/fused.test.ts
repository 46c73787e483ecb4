import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { runSequence, sequencePaths, setKernelPreference, type Params } from '@cellstack/core';
import { KERNELS, buildCell, compareFused, fusedTrainingCurves, randomTensor, sharedDraws, type BuiltCell } from '@cellstack/core/testing';
import { RRU, type RRUOptions } from '../src/index.js';

const shapes = [
  { batch: 1, time: 1, inputSize: 1, units: 1, outputSize: 1 },
  { batch: 3, time: 7, inputSize: 5, units: 9, outputSize: 4 },
  { batch: 2, time: 13, inputSize: 3, units: 6, outputSize: 7 },
  { batch: 5, time: 4, inputSize: 2, units: 8, outputSize: 3 },
];

// Every option that changes the math; q 0.5 gives odd middle widths (g = round((m + n)/2)).
const variants: Array<Partial<RRUOptions>> = [
  {},
  { normalize: 'l2' },
  { normalize: 'none' },
  { reluLayers: 2 },
  { reluLayers: 3, q: 0.5 },
  { singleZ: true, sScale: 1 },
  { q: 0.5, normalize: 'l2', reluLayers: 2, singleZ: true },
];

const keysOf = (layers: number) =>
  [
    'grad.S', 'grad.Wco', 'grad.Wh', 'grad.Wx', 'grad.Z', 'grad.bco', 'grad.bj', 'grad.state.h', 'grad.x', 'output', 'state.h',
    ...Array.from({ length: layers - 1 }, (_, i) => [`grad.Wk${i + 1}`, `grad.bk${i + 1}`]).flat(),
  ].sort();

/** A cell with "trained" Z and biases: Z = 0 (the init) would hide every path through the candidate. */
function build(options: Partial<RRUOptions>, inputSize: number, seed = 3): BuiltCell {
  const built = buildCell(RRU, options, { inputSize, seed });
  for (const [name, v] of Object.entries(built.params))
    if (name === 'Z' || name.startsWith('b')) v.assign(tf.tidy(() => randomTensor(v.shape, seed + name.length, -0.8, 0.8)));
  return built;
}

function expectClose(r: ReturnType<typeof compareFused>, layers: number) {
  expect(r.fusedRuns).toBe(1);
  for (const [what, err] of Object.entries(r.errors)) expect(err, what).toBeLessThan(1e-4);
  expect(Object.keys(r.errors).sort()).toEqual(keysOf(layers));
}

describe.each(KERNELS)('%s kernel', (kernel) => {
  describe.each(variants)('RRU fused kernel %o', (variant) => {
    it.each(shapes)('matches the generic loop: B $batch, T $time, m $inputSize, n $units, p $outputSize', ({ units, outputSize, ...shape }) => {
      const built = build({ units, outputSize, ...variant }, shape.inputSize);
      expectClose(compareFused(built, { ...shape, kernel }), variant.reluLayers ?? 1);
      built.dispose();
    });
  });
});

describe('RRU fused kernel in training (dropout masks drawn as the generic path does)', () => {
  // Two cells from the same seed: the generic loop draws from one's mask stream and the
  // kernel from the other's, so both see the same sequence of masks.
  const pair = (options: Partial<RRUOptions>, inputSize: number, seeds: [number, number] = [3, 3]): BuiltCell => {
    const [a, b] = seeds.map((s) => build(options, inputSize, s));
    for (const [name, v] of Object.entries(a.params)) b.params[name].assign(v);
    return { ...a, cell: { ...a.cell, fused: b.cell.fused }, dispose: () => [a, b].forEach((c) => c.dispose()) };
  };
  const cases: Array<Partial<RRUOptions>> = [
    { dropout: 0.5, dropoutMask: 'step' },
    { dropout: 0.3, dropoutMask: 'sequence' },
    { dropout: 0.7, dropoutMask: 'step', reluLayers: 2, normalize: 'l2', q: 0.5 },
    { dropout: 0.5, dropoutMask: 'sequence', reluLayers: 3, singleZ: true },
    { dropout: 0 },
  ];
  describe.each(cases)('%o', (variant) => {
    it.each(shapes)('B $batch, T $time, m $inputSize, n $units, p $outputSize', ({ units, outputSize, ...shape }) => {
      const built = pair({ units, outputSize, ...variant }, shape.inputSize);
      expectClose(compareFused(built, { ...shape, training: true }), variant.reluLayers ?? 1);
      built.dispose();
    });
  });

  it('the comparison sees the masks: another mask seed gives other outputs', () => {
    const built = pair({ units: 9, outputSize: 4, dropout: 0.5 }, 5, [3, 4]);
    const r = compareFused(built, { batch: 3, time: 7, inputSize: 5, training: true });
    expect(r.fusedRuns).toBe(1);
    expect(r.errors.output).toBeGreaterThan(0.05);
    built.dispose();
  });

  it.each([
    { dropout: 0.5, dropoutMask: 'step' },
    { dropout: 0.5, dropoutMask: 'sequence', reluLayers: 2, normalize: 'l2' },
    { dropout: 0, singleZ: true, sScale: 1 },
  ])('a seeded 2-layer run gives the generic loss curve (rel 1e-4): %o', async (options) => {
    const layer = { cell: 'RRU', options: { units: 6, outputSize: 5, ...options } };
    const { generic, fused } = await fusedTrainingCurves([RRU], [layer, layer], { steps: 15 });
    expect(generic[14]).toBeLessThan(generic[0]);
    fused.forEach((l, i) => expect(Math.abs(l - generic[i]) / generic[i], `step ${i}`).toBeLessThan(1e-4));
  });
});

describe('RRU traced kernel in training', () => {
  it("'sequence' dropout (one mask from begin) traces and gives the generic loss curve (rel 1e-4)", async () => {
    const layer = { cell: 'RRU', options: { units: 6, outputSize: 5, dropout: 0.5, dropoutMask: 'sequence' } };
    const { generic, fused } = await fusedTrainingCurves([RRU], [layer, layer], { steps: 15, kernel: 'traced' });
    expect(generic[14]).toBeLessThan(generic[0]);
    fused.forEach((l, i) => expect(Math.abs(l - generic[i]) / generic[i], `step ${i}`).toBeLessThan(1e-4));
  });

  // The generic loop and the traced kernel each call begin once: two cells from one seed give
  // both runs the same mask stream.
  const pair = (options: Partial<RRUOptions>, inputSize: number, seeds: [number, number] = [3, 3]): BuiltCell => {
    const [a, b] = seeds.map((s) => build(options, inputSize, s));
    return sharedDraws(a, b);
  };

  // The defaults: dropout 0.5 with a fresh mask per step ('step', the authors' code).
  describe.each<Partial<RRUOptions>>([{}, { dropout: 0.7, reluLayers: 2, normalize: 'l2', q: 0.5 }, { dropout: 0.3, reluLayers: 3, singleZ: true }])(
    "'step' dropout (per-step masks from begin, read as per-step inputs) %o",
    (variant) => {
      it.each(shapes)('traces and matches the generic loop: B $batch, T $time, m $inputSize, n $units, p $outputSize', ({ units, outputSize, ...shape }) => {
        const built = pair({ units, outputSize, ...variant }, shape.inputSize);
        const r = compareFused(built, { ...shape, training: true, kernel: 'traced' });
        expect(r.path).toBe('traced');
        expectClose(r, variant.reluLayers ?? 1);
        built.dispose();
      });
    },
  );

  it("'step' dropout: the comparison sees the masks (another mask seed gives other outputs), and no tensor leaks", () => {
    const built = pair({ units: 9, outputSize: 4 }, 5, [3, 4]);
    const before = tf.memory().numTensors;
    const r = compareFused(built, { batch: 3, time: 7, inputSize: 5, training: true, kernel: 'traced' });
    expect(tf.memory().numTensors).toBe(before);
    expect(r.path).toBe('traced');
    expect(r.errors.output).toBeGreaterThan(0.05);
    built.dispose();
  });

  it("'step' dropout under a padding mask: traced when the mask keeps the whole batch, else the step loop says why", () => {
    const built = build({ units: 5, outputSize: 3 }, 2);
    const x = randomTensor([2, 4, 2], 1) as tf.Tensor3D;
    const pathWith = (rows: number[][]) =>
      tf.tidy(() => runSequence(built.cell, built.params as Params, x, { training: true, returnSequences: true, mask: tf.tensor2d(rows) }).path);
    setKernelPreference('traced');
    try {
      expect(pathWith([[1, 1, 1, 1], [1, 1, 1, 1]])).toBe('traced');
      // Parts of the batch would draw their masks at other (t, b) offsets than the loop.
      expect(pathWith([[1, 1, 1, 1], [1, 1, 0, 0]])).toBe('step loop: per-step constants (dropout masks drawn per step) with padding masks that split the batch or time');
    } finally {
      setKernelPreference('hand-written');
    }
    tf.dispose(x);
    built.dispose();
  });

  it("'step' dropout (the default) traces and gives the generic loss curve (rel 1e-4)", async () => {
    const layer = { cell: 'RRU', options: { units: 6, outputSize: 5 } };
    const { loop } = sequencePaths;
    const { generic, fused } = await fusedTrainingCurves([RRU], [layer, layer], { steps: 15, kernel: 'traced' });
    // Only the generic curve's 15 steps × 2 layers (forward runs) went through the step loop.
    expect(sequencePaths.loop - loop).toBe(30);
    expect(generic[14]).toBeLessThan(generic[0]);
    fused.forEach((l, i) => expect(Math.abs(l - generic[i]) / generic[i], `step ${i}`).toBeLessThan(1e-4));
  });
});
