import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { configure, defineCell, init, kernelPreference, nativeKernels, runSequence, setKernelPreference, settings, type Params } from '@cellstack/core';
import { buildCell, randomTensor } from '@cellstack/core/testing';

const initial = { native: settings().native, threads: settings().threads };
afterEach(() => {
  configure(initial);
  setKernelPreference('auto');
});

/**
 * h_t = tanh(x_t W + h_{t−1} U), with a "hand-written" kernel (the same recurrence as one tf loop) that
 * declares its traced step the faster on the addon; `sin` makes the step untraceable.
 */
const Toy = defineCell<{ sin: boolean; wins: 'native' | 'inference' }>({
  name: 'PreferenceToy',
  description: 'a cell whose traced step wins on the addon',
  schema: {
    type: 'object',
    properties: { sin: { type: 'boolean', default: false }, wins: { enum: ['native', 'inference'], default: 'native' } },
    additionalProperties: false,
  },
  create: ({ sin, wins }, { inputSize: F }) => {
    const recur = (h: tf.Tensor2D, x: tf.Tensor2D, U: tf.Tensor2D) => tf.tanh(tf.add(x, tf.matMul(sin ? tf.sin(h) : h, U))) as tf.Tensor2D;
    return {
      state: { h: 3 },
      outputSize: 3,
      params: { w: { shape: [F, 3], init: init.glorotUniform() }, u: { shape: [3, 3], init: init.orthogonal() } },
      project: (x, p) => ({ x: tf.matMul(x, p.w) }),
      step: ({ x }, { h }, p) => {
        const h2 = recur(h, x, p.u as tf.Tensor2D);
        return { output: h2, state: { h: h2 } };
      },
      fused: (x, { h }, p) => {
        const [B, T, Fx] = x.shape;
        const xs = tf.unstack(tf.reshape(tf.matMul(tf.reshape(x, [B * T, Fx]), p.w as tf.Tensor2D), [B, T, 3]), 1) as tf.Tensor2D[];
        const outs: tf.Tensor2D[] = [];
        let s = h;
        for (const xt of xs) outs.push((s = recur(s, xt, p.u as tf.Tensor2D)));
        return { output: tf.stack(outs, 1) as tf.Tensor3D, state: { h: s } };
      },
      tracedWins: wins === 'native' ? 'native' : ({ threads, training }) => threads > 1 && !training,
    };
  },
});

describe("kernel preference 'auto' (the default)", () => {
  const path = (sin: boolean, { wins = 'native' as 'native' | 'inference', training = true } = {}) => {
    const built = buildCell(Toy, { sin, wins }, { inputSize: 2, seed: 3 });
    const p = tf.tidy(() => {
      const r = runSequence(built.cell, built.params as Params, randomTensor([4, 5, 2], 1) as tf.Tensor3D, { training, returnSequences: true });
      return r.path;
    });
    built.dispose();
    return p;
  };

  it('is the default', () => {
    expect(kernelPreference()).toBe('auto');
  });

  it.skipIf(!nativeKernels().available)("runs the traced step of a cell with tracedWins: 'native' while the addon runs traced programs, else its hand-written kernel", () => {
    configure({ native: true });
    expect(path(false)).toBe('traced');
    configure({ native: false });
    expect(path(false)).toBe('hand-written');
  });

  it.skipIf(!nativeKernels().available)('asks a tracedWins predicate about the call (threads, training) while the addon runs traced programs', () => {
    configure({ native: true, threads: 2 });
    expect(path(false, { wins: 'inference', training: false })).toBe('traced');
    expect(path(false, { wins: 'inference', training: true })).toBe('hand-written');
    configure({ threads: 1 });
    expect(path(false, { wins: 'inference', training: false })).toBe('hand-written');
    configure({ native: false, threads: 2 });
    expect(path(false, { wins: 'inference', training: false })).toBe('hand-written');
  });

  it.skipIf(!nativeKernels().available)('falls back to the hand-written kernel where the step cannot be traced', () => {
    configure({ native: true });
    expect(path(true)).toBe('hand-written');
    setKernelPreference('traced');
    expect(path(true)).toMatch(/^step loop: tf op 'Sin'/);
  });

  it("'hand-written' and 'traced' force one or the other", () => {
    setKernelPreference('hand-written');
    expect(path(false)).toBe('hand-written');
    setKernelPreference('traced');
    expect(path(false)).toBe('traced');
  });
});
