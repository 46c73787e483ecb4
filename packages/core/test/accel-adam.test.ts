import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { GroupedOptimizer } from '@cellstack/core';
import { randomTensor } from '@cellstack/core/testing';

// Shapes with SIMD bodies and scalar tails; an unused variable keeps its slot position.
const shapes = [[3, 5], [7], [4, 4], [1]];

function setup(tag: string) {
  return shapes.map((s, i) => tf.variable(randomTensor(s, 10 + i), true, `${tag}${i}`));
}
const gradsAt = (step: number) => shapes.map((s, i) => tf.mul(randomTensor(s, 100 * step + i), i === 1 ? 40 : 1));

describe.runIf(tf.getBackend() === 'wasm')('Adam on the wasm heap (GroupedOptimizer, name adam)', () => {
  it('gives bit-identical weights and slots to tf.train.adam over 6 steps', async () => {
    const [ours, ref] = [setup('heapA'), setup('refA')];
    const opt = new GroupedOptimizer({ name: 'adam', learningRate: 0.01 });
    const tfAdam = tf.train.adam(0.01);
    for (let step = 0; step < 6; step++) {
      const g = gradsAt(step);
      opt.applyGradients(ours.map((v, i) => ({ name: v.name, tensor: g[i] })));
      tfAdam.applyGradients(ref.map((v, i) => ({ name: v.name, tensor: g[i] })));
      tf.dispose(g);
    }
    ours.forEach((v, i) => expect(Array.from(v.dataSync())).toEqual(Array.from(ref[i].dataSync())));
    const [a, b] = [await opt.getWeights(), await tfAdam.getWeights()];
    // tf's slots, then the accumulated powers β^t as kept (tf's restore would rebuild them with pow()).
    expect(a.map((w) => w.name)).toEqual(['iter', ...b.map((w) => `lr×1/${w.name.replace('refA', 'heapA')}`), 'lr×1/accBeta1', 'lr×1/accBeta2']);
    b.forEach((w, i) => expect(Array.from(a[i + 1].tensor.dataSync())).toEqual(Array.from(w.tensor.dataSync())));
    // tf's Adam starts them at β (so β^(t+1) after t steps).
    let [p1, p2] = [Math.fround(0.9), Math.fround(0.999)];
    for (let step = 0; step < 6; step++) [p1, p2] = [Math.fround(p1 * Math.fround(0.9)), Math.fround(p2 * Math.fround(0.999))];
    expect([a[a.length - 2].tensor.dataSync()[0], a[a.length - 1].tensor.dataSync()[0]]).toEqual([p1, p2]);
    opt.dispose();
    tfAdam.dispose();
    tf.dispose([...ours, ...ref]);
  });

  it('updates in place, except data another tensor shares: a clone of a weight keeps its values', () => {
    // Each variable alone on its data (setup's initial tensors share theirs until disposed).
    const ours = shapes.map((s, i) => tf.tidy(() => tf.variable(randomTensor(s, 10 + i), true, `heapS${i}`)));
    const ref = setup('refS');
    const opt = new GroupedOptimizer({ name: 'adam', learningRate: 0.01 });
    const tfAdam = tf.train.adam(0.01);
    const clone = tf.clone(ours[0]); // shares the variable's data (refCount 2): the update must not write it
    const before = Array.from(clone.dataSync());
    const dataIds = ours.map((v) => v.dataId);
    for (let step = 0; step < 3; step++) {
      const g = gradsAt(step);
      opt.applyGradients(ours.map((v, i) => ({ name: v.name, tensor: g[i] })));
      tfAdam.applyGradients(ref.map((v, i) => ({ name: v.name, tensor: g[i] })));
      tf.dispose(g);
    }
    expect(Array.from(clone.dataSync())).toEqual(before);
    ours.forEach((v, i) => expect(Array.from(v.dataSync())).toEqual(Array.from(ref[i].dataSync())));
    // The shared one got new data; the others kept theirs (updated in place).
    expect(ours.map((v, i) => v.dataId === dataIds[i])).toEqual([false, true, true, true]);
    tf.dispose(clone);
    opt.dispose();
    tfAdam.dispose();
    tf.dispose([...ours, ...ref]);
  });

  it('clips like tf ops: the same norm, and weights within float32 rounding of the clipped tf update', () => {
    const [ours, ref] = [setup('heapC'), setup('refC')];
    const opt = new GroupedOptimizer({ name: 'adam', learningRate: 0.01, clipNorm: 0.5 });
    opt.trackNorm = true;
    const tfAdam = tf.train.adam(0.01);
    for (let step = 0; step < 4; step++) {
      const g = gradsAt(step);
      opt.applyGradients(ours.map((v, i) => ({ name: v.name, tensor: g[i] })));
      const norm = tf.sqrt(tf.addN(g.map((t) => tf.sum(tf.square(t)))));
      expect(opt.lastGradNorm).toBeCloseTo(norm.dataSync()[0], 4);
      const scale = tf.div(0.5, tf.maximum(norm, 0.5));
      const clipped = g.map((t) => tf.mul(t, scale));
      tfAdam.applyGradients(ref.map((v, i) => ({ name: v.name, tensor: clipped[i] })));
      tf.dispose([...g, norm, scale, ...clipped]);
    }
    ours.forEach((v, i) => {
      const [x, y] = [v.dataSync(), ref[i].dataSync()];
      x.forEach((xi, k) => expect(Math.abs(xi - y[k])).toBeLessThan(1e-6 * (1 + Math.abs(y[k]))));
    });
    opt.dispose();
    tfAdam.dispose();
    tf.dispose([...ours, ...ref]);
  });

  it('a checkpoint from tf-op Adam resumes on the heap path exactly, and leaks nothing', async () => {
    const [ours, ref] = [setup('heapR'), setup('refR')];
    const tfAdam = tf.train.adam(0.02);
    for (let step = 0; step < 3; step++) {
      const g = gradsAt(step);
      tfAdam.applyGradients(ref.map((v, i) => ({ name: v.name, tensor: g[i] })));
      tf.dispose(g);
    }
    ours.forEach((v, i) => v.assign(ref[i]));
    const opt = new GroupedOptimizer({ name: 'adam', learningRate: 0.02 });
    const slots = await tfAdam.getWeights();
    // GroupedOptimizer's layout: its own iteration count, then the group's (tf's Adam slots, prefixed).
    await opt.setWeights([slots[0], ...slots.map((w) => ({ name: `lr×1/${w.name.replace('refR', 'heapR')}`, tensor: w.tensor }))]);
    const g = gradsAt(3);
    opt.applyGradients(ours.map((v, i) => ({ name: v.name, tensor: g[i] })));
    const [tensors, buffers] = [tf.memory().numTensors, tf.engine().backend.numDataIds()];
    tfAdam.applyGradients(ref.map((v, i) => ({ name: v.name, tensor: g[i] })));
    ours.forEach((v, i) => expect(Array.from(v.dataSync())).toEqual(Array.from(ref[i].dataSync())));
    for (let k = 0; k < 3; k++) opt.applyGradients(ours.map((v, i) => ({ name: v.name, tensor: g[i] })));
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.engine().backend.numDataIds()).toBe(buffers);
    tf.dispose(g);
    opt.dispose();
    tfAdam.dispose();
    tf.dispose([...ours, ...ref]);
  });

  it('restoring its weights continues bit for bit (the accumulated powers are restored as kept, not recomputed)', async () => {
    const [a, b] = [setup('heapK'), setup('heapL')];
    const [optA, optB] = [new GroupedOptimizer({ name: 'adam', learningRate: 0.03 }), new GroupedOptimizer({ name: 'adam', learningRate: 0.03 })];
    const step = (opt: GroupedOptimizer, vars: tf.Variable[], k: number) =>
      tf.tidy(() => {
        const g = gradsAt(k);
        opt.applyGradients(vars.map((v, i) => ({ name: v.name, tensor: g[i] })));
      });
    for (let k = 0; k < 40; k++) step(optA, a, k);
    b.forEach((v, i) => v.assign(a[i]));
    const saved = (await optA.getWeights()).map((w) => ({ name: w.name.replace(/heapK/g, 'heapL'), tensor: tf.clone(w.tensor) }));
    await optB.setWeights(saved);
    const tensors = tf.memory().numTensors;
    for (let k = 40; k < 45; k++) {
      step(optA, a, k);
      step(optB, b, k);
    }
    expect(tf.memory().numTensors).toBe(tensors);
    a.forEach((v, i) => expect(Array.from(b[i].dataSync())).toEqual(Array.from(v.dataSync())));
    tf.dispose(saved.map((w) => w.tensor));
    [optA, optB].forEach((o) => o.dispose());
    tf.dispose([...a, ...b]);
  });

  it('a checkpoint whose slots do not fit the variables gets tf’s shape error, not a heap overrun', async () => {
    const vars = setup('heapBad');
    const opt = new GroupedOptimizer({ name: 'adam', learningRate: 0.01 });
    // The group's iteration count is missing, so every slot lands one position off (sizes 7 vs 15…).
    const slots = vars.map((v) => ({ name: `lr×1/${v.name}/m`, tensor: tf.zerosLike(v) })).concat(vars.map((v) => ({ name: `lr×1/${v.name}/v`, tensor: tf.zerosLike(v) })));
    await opt.setWeights([{ name: 'iter', tensor: tf.scalar(0) }, ...slots]);
    const g = gradsAt(0);
    expect(() => opt.applyGradients(vars.map((v, i) => ({ name: v.name, tensor: g[i] })))).toThrow(/broadcast/);
    const after = tf.ones([100]); // the heap still allocates and holds values
    expect(after.dataSync()[99]).toBe(1);
    tf.dispose([...g, after, ...slots.map((w) => w.tensor)]);
    opt.dispose();
    tf.dispose(vars);
  });
});
