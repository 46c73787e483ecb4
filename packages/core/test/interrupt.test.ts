import { afterEach, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { Interrupted, LSTM, interruptible, runSequence, sequencePaths, setFusedKernels, setKernelPreference, type CellInstance, type KernelPreference } from '@cellstack/core';
import { buildCell, randomTensor } from '@cellstack/core/testing';

// A signal handler on another thread raises the flag (Atomics.store on a SharedArrayBuffer);
// here the computation itself raises it at a chosen point, so where it stops is deterministic.
const newFlag = () => new Int32Array(new SharedArrayBuffer(4));
const raise = (flag: Int32Array) => Atomics.store(flag, 0, 1);

/** An identity on the loss whose gradient raises the flag: the first thing the backward pass runs. */
const raiseInBackward = (flag: Int32Array) =>
  tf.customGrad((x) => ({
    value: tf.clone(x as tf.Tensor),
    gradFunc: (dy: tf.Tensor) => {
      raise(flag);
      return tf.clone(dy);
    },
  }));

const paths: Array<{ path: string; fused: boolean; preference: KernelPreference }> = [
  { path: 'hand-written kernel', fused: true, preference: 'hand-written' },
  { path: 'traced kernel', fused: true, preference: 'traced' },
  { path: 'step loop', fused: false, preference: 'hand-written' },
];

afterEach(() => {
  setFusedKernels(true);
  setKernelPreference('hand-written');
});

describe.each(paths)('interrupt flag on the $path', ({ fused, preference }) => {
  const built = buildCell(LSTM, { units: 4 }, { inputSize: 3, seed: 5 });
  const names = Object.keys(built.params);
  const x = randomTensor([2, 7, 3], 2) as tf.Tensor3D;

  /** Loss and gradients of an LSTM over 7 steps; `trip` wraps the loss (e.g. raising the flag in backward). */
  const lossAndGrads = (cell: CellInstance, trip: (t: tf.Scalar) => tf.Scalar = (t) => t) =>
    tf.tidy(() => {
      setFusedKernels(fused);
      setKernelPreference(preference);
      const { value, grads } = tf.variableGrads(() => {
        const r = runSequence(cell, built.params, x, { training: true, returnSequences: true });
        return trip(tf.sum(tf.mul(r.output, r.output)));
      }, Object.values(built.params));
      return [value, ...names.map((n) => grads[built.params[n].name])].map((t) => Array.from(t.dataSync()));
    });

  const clean = lossAndGrads(built.cell);

  it('a raised flag stops the forward pass with Interrupted and leaks no tensors', async () => {
    const flag = newFlag();
    raise(flag);
    const before = tf.memory().numTensors;
    const ran = sequencePaths.fused;
    await expect(interruptible(flag, () => lossAndGrads(built.cell))).rejects.toBeInstanceOf(Interrupted);
    expect(tf.memory().numTensors).toBe(before);
    expect(sequencePaths.fused).toBe(ran); // no kernel finished
  });

  it('a flag raised during the backward pass stops it with Interrupted, leaks no tensors, and the next run is unchanged', async () => {
    const flag = newFlag();
    const before = tf.memory().numTensors;
    await expect(interruptible(flag, () => lossAndGrads(built.cell, raiseInBackward(flag) as (t: tf.Scalar) => tf.Scalar))).rejects.toBeInstanceOf(Interrupted);
    expect(tf.memory().numTensors).toBe(before);
    // Nothing of the abandoned computation is left in the engine: the same call gives the same numbers.
    expect(lossAndGrads(built.cell)).toEqual(clean);
    // Watching a flag that stays down changes no number either.
    expect(await interruptible(newFlag(), () => lossAndGrads(built.cell))).toEqual(clean);
  });

  if (!fused) {
    it('the step loop stops at the first time step after the flag is raised', async () => {
      const flag = newFlag();
      let steps = 0;
      const cell: CellInstance = {
        ...built.cell,
        step: (...args) => {
          if (++steps === 3) raise(flag);
          return built.cell.step(...args);
        },
      };
      await expect(interruptible(flag, () => lossAndGrads(cell))).rejects.toBeInstanceOf(Interrupted);
      expect(steps).toBe(3); // of 7: the check before step 4 threw
    });
  }
});

it('without a watched flag nothing is checked: a raised flag outside interruptible is ignored', () => {
  const flag = newFlag();
  raise(flag);
  const built = buildCell(LSTM, { units: 2 }, { inputSize: 1, seed: 1 });
  const r = tf.tidy(() => runSequence(built.cell, built.params, tf.ones([1, 3, 1]) as tf.Tensor3D, { training: false, returnSequences: false }).output.dataSync());
  expect(r).toHaveLength(2);
  built.dispose();
});
