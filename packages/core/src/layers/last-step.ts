import * as tf from '@tensorflow/tfjs-core';
import { layers } from '@tensorflow/tfjs-layers';

type Shape = Array<number | null>;

/** `last` pooling: the final time step of a [B, T, F] sequence, as [B, F]. */
export class LastStep extends layers.Layer {
  static className = 'cellstack.LastStep';

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    return [s[0], s[2]];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor3D;
    const [B, T, F] = x.shape;
    return tf.reshape(tf.slice(x, [0, T - 1, 0], [B, 1, F]), [B, F]);
  }
}

const map = tf.serialization.SerializationMap.getMap() as unknown as { classNameMap: Record<string, unknown> };
if (!(LastStep.className in map.classNameMap)) tf.serialization.registerClass(LastStep);
