import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { runtimeOf } from '@cellstack/core';
import { NRU } from '../src/index.js';

const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' }).use(NRU);
const count = (input: [number, number], nru: Record<string, unknown>, head: Array<Record<string, unknown>>) => {
  const model = rt.build({ input: { shape: input }, layers: [{ cell: 'NRU', options: nru }, ...head], seed: 1 } as never);
  const n = model.countParams();
  model.dispose();
  return n;
};

describe('NRU parameter counts match the paper', () => {
  it('pMNIST: hidden 212, memory 256, k 4, input 1, last step → dense(10) = 165,554 (paper ≈ 165k)', () => {
    // h map (1+212+256)·212 + 212 = 99,640; α, β 2·(468·4 + 4) = 3,752;
    // directions 2·(468·64 + 64) = 60,032 (s = √(4·256) = 32, p and q); readout 212·10 + 10 = 2,130.
    expect(count([784, 1], { hidden: 212, memory: 256, heads: 4 }, [{ type: 'last' }, { type: 'dense', units: 10 }])).toBe(165_554);
  });

  it('copy: hidden 80, memory 64, k 4, input 10 (one-hot), dense(9) per step = 23,569 (paper ≈ 23.5k)', () => {
    // h map (10+80+64)·80 + 80 = 12,400; α, β 2·(144·4 + 4) = 1,160;
    // directions 2·(144·32 + 32) = 9,280 (s = 16); readout 80·9 + 9 = 729.
    expect(count([120, 10], { hidden: 80, memory: 64, heads: 4 }, [{ type: 'dense', units: 9, activation: 'softmax' }])).toBe(23_569);
  });

  it('counts the options that change the shapes', () => {
    const base = { hidden: 80, memory: 64, heads: 4 };
    const cellOnly = (o: Record<string, unknown>) => count([120, 10], { ...base, ...o }, []);
    expect(cellOnly({})).toBe(22_840);
    // 'xhm': the heads also read x: + 10·(2·4 + 4·16) = 720.
    expect(cellOnly({ headInputs: 'xhm' })).toBe(22_840 + 720);
    // 'perHead': p_i, q_i ∈ R^8 per head → 2·(2·4·8) = 128 direction outputs instead of 64: + 64·(144 + 1).
    expect(cellOnly({ outerProduct: 'perHead' })).toBe(22_840 + 64 * 145);
    // layer norm: gain and bias of the 80 hidden units.
    expect(cellOnly({ layerNorm: true })).toBe(22_840 + 160);
    // sum/mean and ReLU heads change no shapes.
    expect(cellOnly({ headReduce: 'sum', useRelu: true })).toBe(22_840);
  });
});
