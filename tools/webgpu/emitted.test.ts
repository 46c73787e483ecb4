/**
 * The WGSL programs emitted from each cell's traced step IR (gpu/traced-gpu.ts) against the
 * generic step loop: outputs, final states and every gradient on tiny shapes (both on
 * webgpu), and 20 training steps per cell with the losses of the generic loop (on cpu,
 * which tools/webgpu/training.test.ts shows equal to webgpu's generic loop).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { afterAll, describe, expect, it } from 'vitest';
import { cellPath, createOptimizer, layerPaths, runtimeOf, setKernelPreference, type CellPlugin } from '@cellstack/core';
import { randomTensor } from '@cellstack/core/testing';
import { ALL_CELLS, expectKernelMatchesGeneric, sizeOption, useBackend, worstRatio } from './helpers.js';

const byName = (name: string) => ALL_CELLS.find((c) => c.name === name)!;

afterAll(async () => {
  setKernelPreference('hand-written');
  await useBackend('webgpu');
});

describe('emitted WGSL kernels equal the generic step loop on webgpu', () => {
  // Tiny shapes for every cell; GRU once more with 44 units, where ops span more elements (264)
  // than the workgroup has threads (each thread then takes several).
  const cases = [...ALL_CELLS.map((plugin) => ({ plugin, shape: {} })), { plugin: byName('GRU'), shape: { H: 44, T: 2 } }];
  for (const { plugin, shape } of cases) {
    it(`${plugin.name} ${JSON.stringify(shape)}: runs traced (webgpu); outputs, states and every gradient within 5e-6 + 1e-5·|generic|`, async () => {
      setKernelPreference('traced');
      await useBackend('webgpu', { kernels: true });
      expect(cellPath(plugin, { [sizeOption(plugin)]: 4 }, { inputSize: 3 })).toBe('traced (webgpu)');
      await expectKernelMatchesGeneric(plugin, shape);
    });
  }
});

describe('where the emitted kernel does not run, the layer says why', () => {
  it('a step with more multiply-adds than CELLSTACK_WGSL_MAX_MACS runs the step loop, naming the count', async () => {
    setKernelPreference('traced');
    await useBackend('webgpu', { kernels: true });
    // STAR, 4 units, batch 2: h [2, 4] · W_h [4, 4] = 32 multiply-adds per step.
    process.env.CELLSTACK_WGSL_MAX_MACS = '31';
    try {
      expect(cellPath(byName('STAR'), { units: 4 })).toBe(
        "step loop: the emitted WGSL runs in one workgroup, and this step's products (32 multiply-adds) exceed CELLSTACK_WGSL_MAX_MACS = 31",
      );
    } finally {
      delete process.env.CELLSTACK_WGSL_MAX_MACS;
    }
    expect(cellPath(byName('STAR'), { units: 4 })).toBe('traced (webgpu)');
  });
});

describe('training through the emitted WGSL kernels', () => {
  const ir = (plugin: CellPlugin) => ({
    input: { shape: [5, 2] },
    // Default options: RRU trains with its per-step dropout masks (read as per-step inputs) and
    // URLSTM with zoneout on both states, so the emitted kernels drop what the cpu loop drops.
    layers: [{ cell: plugin.name, options: { [sizeOption(plugin)]: 4, ...(plugin.name === 'URLSTM' ? { zc: 0.5, zh: 0.3 } : {}) } }, { type: 'last' }, { type: 'dense', units: 1 }],
    seed: 1,
  });
  const compiled = (plugin: CellPlugin): LayersModel => {
    const model = runtimeOf({ name: 'test', reason: 'test' }, { baselines: false, cells: [plugin] }).build(ir(plugin));
    model.compile({ optimizer: createOptimizer(model, { learningRate: 1e-2 }), loss: 'meanSquaredError' });
    return model;
  };
  /** Losses of `steps` steps on one fixed batch, and GPU programs run per step: all, and the emitted ones by name. */
  async function train(model: LayersModel, steps: number) {
    const [x, y] = [randomTensor([4, 5, 2], 5), randomTensor([4, 1], 6)];
    const backend = tf.backend() as unknown as { runWebGPUProgram?: (p: { shaderKey: string }, ...a: unknown[]) => unknown };
    const run = backend.runWebGPUProgram;
    const count = { all: 0, fwd: 0, bwd: 0 };
    if (run) {
      backend.runWebGPUProgram = (p, ...a) => {
        count.all++;
        if (p.shaderKey.startsWith('cellstack_ir_fwd')) count.fwd++;
        if (p.shaderKey.startsWith('cellstack_ir_bwd')) count.bwd++;
        return run.call(backend, p, ...a);
      };
    }
    const losses = new Float32Array(steps);
    try {
      for (let s = 0; s < steps; s++) losses[s] = (await model.trainOnBatch(x, y)) as number;
    } finally {
      if (run) backend.runWebGPUProgram = run;
    }
    tf.dispose([x, y]);
    return { losses, perStep: { all: count.all / steps, fwd: count.fwd / steps, bwd: count.bwd / steps } };
  }

  for (const plugin of ALL_CELLS) {
    it(`${plugin.name}: 20 Adam steps give the generic loop's losses (1e-6 + 2e-5·|generic|); one forward and one backward program per step`, async () => {
      await useBackend('cpu');
      const onCpu = compiled(plugin);
      const generic = await train(onCpu, 20);
      onCpu.dispose();

      setKernelPreference('traced');
      await useBackend('webgpu', { kernels: true });
      const model = compiled(plugin);
      const emitted = await train(model, 20);
      expect(layerPaths(model).map((l) => l.path)).toEqual(['traced (webgpu)']);
      model.dispose();
      const { ratio, where } = worstRatio({ loss: emitted.losses }, { loss: generic.losses }, 1e-6, 2e-5);
      expect(ratio, where).toBeLessThanOrEqual(1);
      expect(emitted.perStep).toMatchObject({ fwd: 1, bwd: 1 });
      process.stdout.write(`${plugin.name} (T=5, 1 layer): ${emitted.perStep.all} GPU dispatches per training step with the emitted kernel, no read-backs but the loss\n`);
    });
  }
});
