/**
 * The cells' WGSL kernels (gpuFused) against the generic step loop, both on webgpu:
 * outputs, final states and every gradient; training with them; their dispatch count.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { createOptimizer, runtimeOf } from '@cellstack/core';
import { randomTensor } from '@cellstack/core/testing';
import { ALL_CELLS, expectKernelMatchesGeneric, useBackend, worstRatio } from './helpers.js';

const withKernel = ALL_CELLS.filter((c) => c.create(c.resolveOptions({}, 'options', { inputSize: 2, timesteps: 3, seed: 1 }) as never, { inputSize: 2, timesteps: 3, seed: 1 }).gpuFused);

describe('GPU kernels equal the generic step loop on webgpu', () => {
  afterAll(() => useBackend('webgpu'));

  it('LSTM has a hand-written one (the others run WGSL emitted from their traced step: emitted.test.ts)', () => {
    expect(withKernel.map((c) => c.name)).toEqual(['LSTM']);
  });

  for (const plugin of withKernel) {
    // 4 units: one thread each; 260: 256 threads, some with two units (the strided path).
    for (const shape of [{ H: 4 }, { H: 260, B: 1, T: 2, F: 2 }]) {
      it(`${plugin.name}, ${shape.H} units: outputs, states and every gradient within 5e-6 + 1e-5·|generic|`, async () => {
        await expectKernelMatchesGeneric(plugin, shape);
      });
    }

    it(`${plugin.name}: 20 training steps with the kernel give the generic loop's losses; dispatches per step counted`, async () => {
      const rt = runtimeOf({ name: 'webgpu', reason: 'test' }, { baselines: false, cells: [plugin] });
      const ir = { input: { shape: [6, 2] }, layers: [{ cell: plugin.name, options: { units: 8 }, repeat: 2 }, { type: 'last' }, { type: 'dense', units: 1 }], seed: 1 };
      const [x, y] = [randomTensor([4, 6, 2], 5), randomTensor([4, 1], 6)];
      const curves: Float32Array[] = [];
      const dispatches: number[] = [];
      for (const kernels of [false, true]) {
        await useBackend('webgpu', { kernels });
        const model = rt.build(ir);
        model.compile({ optimizer: createOptimizer(model, { learningRate: 1e-2 }), loss: 'meanSquaredError' });
        const backend = tf.backend() as unknown as { runWebGPUProgram: (...a: unknown[]) => unknown };
        const run = backend.runWebGPUProgram;
        let n = 0;
        backend.runWebGPUProgram = (...a: unknown[]) => (n++, run.apply(backend, a));
        const losses = new Float32Array(20);
        try {
          for (let s = 0; s < 20; s++) losses[s] = (await model.trainOnBatch(x, y)) as number;
        } finally {
          backend.runWebGPUProgram = run;
        }
        dispatches.push(n / 20);
        curves.push(losses);
        model.dispose();
      }
      tf.dispose([x, y]);
      const { ratio, where } = worstRatio({ loss: curves[1] }, { loss: curves[0] }, 1e-6, 2e-5);
      expect(ratio, where).toBeLessThanOrEqual(1);
      // T = 6, 2 layers: the generic loop dispatches per step and gate; the kernel per layer.
      expect(dispatches[1]).toBeLessThan(dispatches[0] / 3);
      process.stdout.write(`${plugin.name} T=6, 2 layers: ${dispatches[0]} dispatches per training step on the generic loop, ${dispatches[1]} with the GPU kernel\n`);
    });
  }
});
