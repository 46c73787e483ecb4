import { createRequire } from 'node:module';
import { createRng } from '@cellstack/core';
import { describe, expect, it } from 'vitest';
import { bitReversalPermutation, mnistTask, randomPermutation } from '@cellstack/tasks';
import { lossOf } from './helpers.js';

const require = createRequire(import.meta.url);

describe('pixel MNIST', () => {
  it('serves real digits of the mnist package with their labels, one pixel per step', () => {
    const task = mnistTask();
    expect(task.inputShape).toEqual([784, 1]);
    expect(task.trainSize).toBe(9000);
    const batch = task.batch(3, createRng(1));
    for (let b = 0; b < 3; b++) {
      const label = Array.from(batch.y.subarray(b * 10, b * 10 + 10)).indexOf(1);
      const raw = (require(`mnist/src/digits/${label}.json`) as { data: number[] }).data;
      const seq = batch.x.subarray(b * 784, (b + 1) * 784);
      let found = false;
      for (let n = 0; n < raw.length / 784 && !found; n++) {
        found = seq.every((v, i) => Math.abs(v - raw[n * 784 + i]) < 1e-6);
      }
      expect(found).toBe(true);
    }
  });
  it('bit reversal and seeded random permutations reorder the same images; pooling averages 2×2 blocks', () => {
    expect(bitReversalPermutation(8)).toEqual([0, 4, 2, 6, 1, 5, 3, 7]);
    const br = bitReversalPermutation(784);
    expect([...br].sort((a, b) => a - b)).toEqual(Array.from({ length: 784 }, (_, i) => i));
    expect(randomPermutation(784, 3)).toEqual(randomPermutation(784, 3));
    expect(randomPermutation(784, 3)).not.toEqual(randomPermutation(784, 4));
    const plain = mnistTask().batch(2, createRng(2)).x;
    const rev = mnistTask({ permutation: 'bitreversal' }).batch(2, createRng(2)).x;
    const perm = randomPermutation(784, 7);
    const rnd = mnistTask({ permutation: 'random', permutationSeed: 7 }).batch(2, createRng(2)).x;
    for (let b = 0; b < 2; b++) {
      for (let t = 0; t < 784; t++) {
        expect(rev[b * 784 + t]).toBe(plain[b * 784 + br[t]]);
        expect(rnd[b * 784 + t]).toBe(plain[b * 784 + perm[t]]);
      }
    }
    const small = mnistTask({ size: 14 }).batch(2, createRng(2));
    expect(small.xShape).toEqual([2, 196, 1]);
    const px = (r: number, c: number) => plain[r * 28 + c];
    expect(small.x[3 * 14 + 5]).toBeCloseTo((px(6, 10) + px(6, 11) + px(7, 10) + px(7, 11)) / 4, 6);
  });
  it('validation images are held out from training; baseline ln 10; pmnist defaults to random', () => {
    const task = mnistTask({ validation: 4000, size: 7 });
    const key = (x: Float32Array, b: number) => Array.from(x.subarray(b * 49, (b + 1) * 49)).join(',');
    const train = task.batch(3000, createRng(3));
    const val = task.batch(3000, createRng(3), 'validation');
    const seen = new Set(Array.from({ length: 3000 }, (_, b) => key(train.x, b)));
    const overlap = Array.from({ length: 3000 }, (_, b) => key(val.x, b)).filter((k) => seen.has(k));
    expect(overlap.length).toBeLessThan(5); // only identical-looking digits after 4×4 pooling, if any
    const uniform = new Float32Array(30000).fill(0.1);
    expect(lossOf(task, train, uniform)).toBeCloseTo(Math.log(10), 4);
    expect(task.baseline).toBeCloseTo(Math.log(10), 10);
    expect(() => mnistTask({ permutation: 'shuffle' as never })).toThrow(/task.permutation: must be one of 'none' \| 'bitreversal' \| 'random'/);
    expect(() => mnistTask({ size: 10 as never })).toThrow(/task.size: must be one of 28 \| 14 \| 7/);
  });
});
