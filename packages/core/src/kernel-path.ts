import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { CellPlugin, Params } from './cell.js';
import { CellLayer } from './cell-layer.js';
import { createRng } from './rng.js';
import { runSequence, type KernelPath } from './sequence.js';

export interface LayerPath {
  layer: string;
  cell: string;
  /** 'hand-written', 'traced' or 'step loop: <reason>'; absent before the layer first ran. */
  path?: KernelPath;
}

/** The path each cell layer of a model ran on its last call (training or inference). */
export function layerPaths(model: LayersModel): LayerPath[] {
  return model.layers
    .filter((l): l is CellLayer => l instanceof CellLayer)
    .map((l) => ({ layer: l.name, cell: l.plugin.name, ...(l.lastPath ? { path: l.lastPath } : {}) }));
}

/**
 * The path a cell takes with these options on the current backend, found by running it once
 * on a tiny input (batch 2, 3 steps, inference): the same decision a model's layer makes.
 */
export function cellPath(plugin: CellPlugin, options: Record<string, unknown> = {}, { inputSize = 4, training = false } = {}): KernelPath {
  const ctx = { inputSize, timesteps: 3, seed: 1 };
  const cell = plugin.create(plugin.resolveOptions(options, 'options', ctx), ctx);
  const rng = createRng(1);
  return tf.tidy(() => {
    const params: Params = {};
    for (const [name, spec] of Object.entries(cell.params)) params[name] = tf.tensor(spec.init(spec.shape, rng.fork(name)), spec.shape);
    return runSequence(cell, params, tf.zeros([2, 3, inputSize]), { training, returnSequences: true }).path;
  });
}
