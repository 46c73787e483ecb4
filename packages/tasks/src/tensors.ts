import * as tf from '@tensorflow/tfjs-core';
import type { Batch } from './task.js';

/** A batch as tensors (the caller disposes them). */
export function toTensors(batch: Batch): { x: tf.Tensor3D; y: tf.Tensor } {
  return { x: tf.tensor3d(batch.x, batch.xShape), y: tf.tensor(batch.y, batch.yShape) };
}
