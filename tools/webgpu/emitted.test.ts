/**
 * The WGSL programs emitted from each cell's traced step IR (gpu/traced-gpu.ts) against the
 * generic step loop: outputs, final states and every gradient on tiny shapes (both on
 * webgpu) in the one-workgroup layout, on odd shapes and one large one in the
 * many-workgroup layout, and 20 training steps per cell with the losses of the generic loop (on cpu,
 * which tools/webgpu/training.test.ts shows equal to webgpu's generic loop).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { afterAll, describe, expect, it } from 'vitest';
import { cellPath, createOptimizer, layerPaths, runtimeOf, setKernelPreference, type CellPlugin } from '@cellstack/core';
import { randomTensor } from '@cellstack/core/testing';
import { ALL_CELLS, expectKernelMatchesGeneric, sizeOption, useBackend, worstRatio } from './helpers.js';

const byName = (name: string) => ALL_CELLS.find((c) => c.name === name)!;

// A cold llvmpipe compile of a cell's sweep programs takes up to ~90 s on the loaded 2-core
// machine (NRU; Mesa caches it in ~/.cache/mesa_shader_cache_db, so a rerun takes ~1 s): a
// margin over that, not vitest's 120 s.
const COLD_COMPILE = { timeout: 300_000 };

afterAll(async () => {
  setKernelPreference('hand-written');
  await useBackend('webgpu');
});

describe('emitted WGSL kernels equal the generic step loop on webgpu', COLD_COMPILE, () => {
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

describe('the many-workgroup layout (a dispatch per phase per step, tiled products) equals the generic step loop', COLD_COMPILE, () => {
  /** With CELLSTACK_WGSL_ONE_WORKGROUP_MACS = `macs` (0: every step takes the many-workgroup layout). */
  async function withLimit(macs: string, check: () => Promise<void>) {
    process.env.CELLSTACK_WGSL_ONE_WORKGROUP_MACS = macs;
    try {
      await check();
    } finally {
      delete process.env.CELLSTACK_WGSL_ONE_WORKGROUP_MACS;
    }
  }
  // Odd sizes, not multiples of the 32 × 32 tiles: LSTM's h·U is [5, 19]·[19, 76], three
  // workgroups of tiles; its gate math spans 380 elements, two workgroups of 256 threads.
  // Five cells that cover the IR's ops between them (every cell passed here when this was
  // written; lavapipe compiles each phase's program, so CI runs these).
  for (const plugin of ['LSTM', 'NRU', 'STAR', 'RRU', 'DMU'].map(byName)) {
    it(`${plugin.name} {"B":5,"H":19}: outputs, states and every gradient within 5e-6 + 1e-5·|generic|, on several workgroups`, async () => {
      setKernelPreference('traced');
      await withLimit('0', async () => {
        const d = await emittedDispatches(() => expectKernelMatchesGeneric(plugin, { B: 5, H: 19, T: 3 }));
        expect(d.widest).toBeGreaterThan(1);
        // Per step: the same programs, so a whole number of dispatches each way.
        expect([d.forward % 3, d.backward % 3]).toEqual([0, 0]);
        process.stdout.write(`${plugin.name}: ${d.forward / 3} forward + ${d.backward / 3} backward dispatches per step (many-workgroup layout), up to ${d.widest} workgroups\n`);
      });
    });
  }
  it('STAR past the old one-workgroup limit (2^23 multiply-adds per step: batch 67, 513 units) runs the kernel, not the step loop', async () => {
    setKernelPreference('traced');
    // h [67, 513] · W_h [513, 2·513]: 35 million multiply-adds per step, 3 × 33 tiles.
    const d = await emittedDispatches(() => expectKernelMatchesGeneric(byName('STAR'), { B: 67, H: 513, T: 2 }));
    expect(d.widest).toBeGreaterThanOrEqual(3 * 33);
  });
});

describe('training through the emitted WGSL kernels', COLD_COMPILE, () => {
  const ir = (plugin: CellPlugin) => ({
    // The shapes of the kernel checks above (T 3, 3 features, batch 2), so the training step's
    // programs are theirs: compiled once (a cold llvmpipe compile of NRU's takes a minute under load).
    input: { shape: [3, 3] },
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
    const [x, y] = [randomTensor([2, 3, 3], 5), randomTensor([2, 1], 6)];
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
      process.stdout.write(`${plugin.name} (T=3, 1 layer): ${emitted.perStep.all} GPU dispatches per training step with the emitted kernel, no read-backs but the loss\n`);
    });
  }
});

/** While `run` ran: the most workgroups of any emitted program, and the dispatches of the per-step programs each way. */
async function emittedDispatches(run: () => Promise<void>): Promise<{ widest: number; forward: number; backward: number }> {
  const backend = tf.backend() as unknown as { runWebGPUProgram: (p: { shaderKey: string; dispatch: number[] }, ...a: unknown[]) => unknown };
  const original = backend.runWebGPUProgram;
  const d = { widest: 0, forward: 0, backward: 0 };
  backend.runWebGPUProgram = (p, ...a) => {
    const r = original.call(backend, p, ...a);
    if (p.shaderKey.startsWith('cellstack_ir_')) d.widest = Math.max(d.widest, p.dispatch[0]);
    if (/^cellstack_ir_fwd_p\d/.test(p.shaderKey)) d.forward++;
    if (/^cellstack_ir_bwd_p\d/.test(p.shaderKey)) d.backward++;
    return r;
  };
  try {
    await run();
  } finally {
    backend.runWebGPUProgram = original;
  }
  return d;
}
