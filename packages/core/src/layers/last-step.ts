import * as tf from '@tensorflow/tfjs-core';
import { layers } from '@tensorflow/tfjs-layers';

type Shape = Array<number | null>;

/** tfjs types computeMask as never null, but null is how a layer ends the mask (as Keras does). */
export const NO_MASK = null as unknown as tf.Tensor;

const maskOf = (mask?: tf.Tensor | tf.Tensor[]) => (Array.isArray(mask) ? mask[0] : mask);

/** Pooling over time: [B, T, F] → [B, F]; it reads a padding mask and ends it. */
abstract class TimePool extends layers.Layer {
  constructor(args?: { name?: string }) {
    super(args ?? {});
    this.supportsMasking = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    return [s[0], s[2]];
  }

  override computeMask(): tf.Tensor {
    return NO_MASK;
  }
}

/**
 * `last` pooling: the final time step of a [B, T, F] sequence, as [B, F]; with a padding
 * mask, each sequence's last real step (zeros for a sequence with none).
 */
export class LastStep extends TimePool {
  static className = 'cellstack.LastStep';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { mask?: tf.Tensor | tf.Tensor[] } = {}): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor3D;
    const [B, T, F] = x.shape;
    const mask = maskOf(kwargs.mask);
    if (!mask) return tf.reshape(tf.slice(x, [0, T - 1, 0], [B, 1, F]), [B, F]);
    // Index of the last real step: max over t of m·(t+1), minus 1 (−1 → a zero one-hot).
    const last = tf.sub(tf.max(tf.mul(tf.cast(mask, 'float32'), tf.range(1, T + 1)), 1), 1);
    const pick = tf.oneHot(tf.cast(last, 'int32'), T);
    return tf.sum(tf.mul(x, tf.expandDims(pick, 2)), 1);
  }
}

/** `mean` pooling: the average over time of [B, T, F], over real steps only when a padding mask comes with it. */
export class MeanSteps extends TimePool {
  static className = 'cellstack.MeanSteps';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { mask?: tf.Tensor | tf.Tensor[] } = {}): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor3D;
    const mask = maskOf(kwargs.mask);
    if (!mask) return tf.mean(x, 1);
    const m = tf.expandDims(tf.cast(mask, 'float32'), 2);
    // A sequence with no real step averages to zeros rather than 0/0.
    return tf.div(tf.sum(tf.mul(x, m), 1), tf.maximum(tf.sum(m, 1), 1));
  }
}

const map = tf.serialization.SerializationMap.getMap() as unknown as { classNameMap: Record<string, unknown> };
for (const cls of [LastStep, MeanSteps]) if (!(cls.className in map.classNameMap)) tf.serialization.registerClass(cls);
