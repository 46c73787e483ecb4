import * as tf from '@tensorflow/tfjs-core';
import { createOptimizer, createRuntime } from '@cellstack/core';
import { STAR } from '@cellstack/cell-star';
const rt = (await createRuntime({ backend: 'wasm' })).use(STAR);
console.log(rt.backend);
for (const [cell, H, T, B] of [['STAR', 64, 49, 32], ['LSTM', 64, 49, 32], ['STAR', 128, 49, 32], ['LSTM', 128, 49, 32]] as const) {
  const model = rt.build({ input: { shape: [T, 1] }, layers: [{ cell, options: { units: H }, repeat: 12 }, { type: 'last' }, { type: 'dense', units: 10, activation: 'softmax' }], seed: 1 });
  model.compile({ optimizer: createOptimizer(model, { learningRate: 1e-3, clipNorm: 5 }), loss: 'categoricalCrossentropy' });
  const x = tf.randomUniform([B, T, 1]); const y = tf.oneHot(tf.zeros([B], 'int32'), 10);
  await model.trainOnBatch(x, y);
  const t0 = performance.now();
  for (let i = 0; i < 3; i++) await model.trainOnBatch(x, y);
  console.log(cell, H, ((performance.now() - t0) / 3).toFixed(0), 'ms/step');
  tf.dispose([x, y]); model.dispose();
}
