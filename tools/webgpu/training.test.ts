/**
 * Training on webgpu: 20 Adam steps per cell with the cpu backend's losses, a model trained
 * on webgpu loaded on wasm with the same predictions, and nothing left behind on the GPU
 * over 200 steps. Tiny models: CI runs these on lavapipe on 2 cores.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { createOptimizer, layerPaths, loadModel, runtimeOf, saveTo, type CellPlugin, type ModelIR } from '@cellstack/core';
import { randomTensor } from '@cellstack/core/testing';
import { ALL_CELLS, readAll, sizeOption, useBackend, worstRatio } from './helpers.js';

const rt = runtimeOf({ name: 'webgpu', reason: 'test' }, { baselines: false, cells: ALL_CELLS });
// Cells with dropout (RRU) keep it, seeded, at a rate a 4-unit model still learns through.
const ir = (plugin: CellPlugin): ModelIR => ({
  input: { shape: [5, 2] },
  layers: [{ cell: plugin.name, options: { [sizeOption(plugin)]: 4, ...('dropout' in plugin.schema.properties ? { dropout: 0.1 } : {}) } }, { type: 'last' }, { type: 'dense', units: 1 }],
  seed: 1,
});

function compiled(plugin: CellPlugin): LayersModel {
  const model = rt.build(ir(plugin));
  model.compile({ optimizer: createOptimizer(model, { learningRate: 1e-2, clipNorm: 1 }), loss: 'meanSquaredError' });
  return model;
}

/** Losses of 20 steps on one fixed batch. */
async function train(model: LayersModel, steps = 20): Promise<Float32Array> {
  const [x, y] = [randomTensor([4, 5, 2], 5), randomTensor([4, 1], 6)];
  const losses = new Float32Array(steps);
  for (let s = 0; s < steps; s++) losses[s] = (await model.trainOnBatch(x, y)) as number;
  tf.dispose([x, y]);
  return losses;
}

async function predict(model: LayersModel): Promise<Float32Array> {
  const x = randomTensor([3, 5, 2], 9);
  const { y } = await readAll({ y: model.predict(x) as tf.Tensor });
  x.dispose();
  return y;
}

describe('training on webgpu', () => {
  afterAll(() => useBackend('webgpu'));
  for (const plugin of ALL_CELLS) {
    it(`${plugin.name}: 20 steps with the cpu backend's losses; saved on webgpu, loaded on wasm, same predictions`, async () => {
      await useBackend('cpu');
      const onCpu = compiled(plugin);
      const cpuLosses = await train(onCpu);
      onCpu.dispose();

      await useBackend('webgpu');
      const model = compiled(plugin);
      const losses = await train(model);
      // Float32 differences compound over 20 Adam steps: measured worst on lavapipe 3.7e-6 relative (RRU).
      const { ratio, where } = worstRatio({ loss: losses }, { loss: cpuLosses }, 1e-6, 2e-5);
      expect(ratio, where).toBeLessThanOrEqual(1);
      const mean = (a: Float32Array) => a.reduce((p, q) => p + q, 0) / a.length;
      expect(mean(losses.subarray(15))).toBeLessThan(0.9 * mean(losses.subarray(0, 5)));
      const expected = await predict(model);
      const dir = await mkdtemp(path.join(tmpdir(), 'cellstack-webgpu-'));
      try {
        await model.save(saveTo(dir));
        model.dispose();
        await useBackend('wasm');
        const loaded = await loadModel(dir);
        const got = await predict(loaded);
        loaded.dispose();
        expect(worstRatio({ y: got }, { y: expected }, 1e-6, 1e-5).ratio).toBeLessThanOrEqual(1);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }

  // STAR through the WGSL emitted from its traced step (webgpu's default for it) in both layouts (the
  // many-workgroup one forced: a dispatch per phase per step, updating its result in place), LSTM
  // through its hand-written WGSL.
  for (const [cell, wide] of [['STAR', false], ['STAR', true], ['LSTM', false]] as const) {
    it(`leaks nothing over 200 steps (${cell}, its WGSL kernel${wide ? ', many-workgroup layout' : ''}): tensors, bytes, GPU buffers and compiled pipelines flat`, async () => {
      if (wide) process.env.CELLSTACK_WGSL_ONE_WORKGROUP_MACS = '0';
      onTestFinished(() => {
        delete process.env.CELLSTACK_WGSL_ONE_WORKGROUP_MACS;
      });
      await useBackend('webgpu', { kernels: true });
      const model = compiled(ALL_CELLS.find((c) => c.name === cell)!);
      const backend = tf.backend() as unknown as { bufferManager: { getNumUsedBuffers(): number; getNumFreeBuffers(): number }; pipelineCache: object };
      const buffers = backend.bufferManager;
      // Compiled pipelines too: a program whose shader key changed per run would compile (and keep) one per step.
      const snapshot = () => ({
        tensors: tf.memory().numTensors,
        bytes: tf.memory().numBytes,
        gpuBuffersUsed: buffers.getNumUsedBuffers(),
        gpuBuffersAll: buffers.getNumUsedBuffers() + buffers.getNumFreeBuffers(),
        pipelines: Object.keys(backend.pipelineCache).length,
      });
      await train(model, 10); // optimiser slots and buffer pools fill on the first steps
      expect(layerPaths(model)[0].path).toBe(cell === 'STAR' ? 'traced (webgpu)' : 'hand-written');
      const before = snapshot();
      await train(model, 200);
      expect(snapshot()).toEqual(before);
      model.dispose();
    });
  }
});
