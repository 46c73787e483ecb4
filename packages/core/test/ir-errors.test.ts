import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { CellstackError, LIMITS, runtimeOf } from '@cellstack/core';

const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' });
const ok = { input: { shape: [10, 3] }, layers: [{ cell: 'LSTM', options: { units: 4 } }, { type: 'last' }, { type: 'dense', units: 2 }] };

/** The CellstackError a bad IR raises (fails the test if none is raised). */
function errorOf(ir: unknown): CellstackError {
  try {
    rt.resolve(ir);
  } catch (e) {
    expect(e).toBeInstanceOf(CellstackError);
    return e as CellstackError;
  }
  throw new Error('expected the IR to be rejected');
}

describe('IR validation names the bad field and what is allowed', () => {
  it.each([
    [{ ...ok, layers: [ok.layers[0], ok.layers[1], { type: 'dense', units: 0 }] }, 'layers[2].units: must be an integer >= 1 (got 0)'],
    [{ ...ok, layers: [{ cell: 'LSTM', options: { units: 1.5 } }] }, 'layers[0].options.units: must be an integer >= 1 (got 1.5)'],
    [{ ...ok, layers: [{ cell: 'LSTM', options: { unit: 4 } }] }, "layers[0].options.unit: unknown option 'unit'; allowed: units, forgetBias, chrono, tmax (did you mean 'units'?)"],
    [{ ...ok, layers: [{ cell: 'LSTN' }] }, "layers[0].cell: unknown cell 'LSTN'; registered cells: LSTM, GRU, SimpleRNN, JANET (did you mean LSTM?)"],
    [{ ...ok, layers: [{ cell: 'LSTM', repeat: 0 }] }, 'layers[0].repeat: must be an integer in [1, 256] (got 0)'],
    [{ ...ok, layers: [{ type: 'pool' }] }, "layers[0].type: must be one of 'dense' | 'dropout' | 'embedding' | 'masking' | 'last' | 'mean' | 'layerNorm', or the layer must name a 'cell' (got \"pool\")"],
    [{ ...ok, layers: [{ type: 'dropout', rate: 1 }] }, 'layers[0].rate: must be a number in [0, 1) (got 1)'],
    [{ ...ok, layers: [{ type: 'dense', units: 3, activation: 'swish' }] }, "layers[0].activation: must be one of 'linear' | 'relu' | 'tanh' | 'sigmoid' | 'softmax' | 'elu' | 'selu' | 'softplus' (got 'swish')"],
    [{ ...ok, input: { shape: [10] } }, 'input.shape: must be an array [an integer >= 1 or null, an integer >= 1] (got [10])'],
    [{ ...ok, input: { shape: [10, 0] } }, 'input.shape[1]: must be an integer >= 1 (got 0)'],
    [{ ...ok, layers: [] }, 'layers: must be an array (at least 1) (got [])'],
    [{ layers: ok.layers }, 'input: is required: an object'],
    [{ ...ok, extra: 1 }, "extra: unknown option 'extra'; allowed: input, layers, seed"],
    [{ ...ok, layers: [{ type: 'last' }, { cell: 'LSTM' }] }, "layers[1]: LSTM needs a sequence, but it was already pooled over time by 'last' at layers[0] (move the pooling after the last cell)"],
    [{ ...ok, layers: [{ cell: 'LSTM' }, { type: 'mean' }, { type: 'last' }] }, "layers[2]: 'last' pools over time, but it was already pooled by 'mean' at layers[1] (pool once, after the last cell)"],
    [{ ...ok, layers: [{ cell: 'LSTM' }, { type: 'embedding', vocab: 5, dim: 2 }] }, 'layers[1]: an embedding must be the first layer (move it to the start of the pipeline)'],
    [{ ...ok, layers: [{ type: 'embedding', vocab: 5, dim: 2 }] }, 'input.shape[1]: an embedding reads one token id per step: the input must be [timesteps, 1] (got 3 features)'],
    [{ ...ok, layers: [42] }, "layers[0]: must be a layer object: {cell, options?, repeat?} or {type: 'dense' | 'dropout' | 'embedding' | 'masking' | 'last' | 'mean' | 'layerNorm', …}"],
    [{ ...ok, layers: [{ cell: 'LSTM', options: 'big' }] }, 'layers[0].options: must be an object (got \'big\')'],
  ])('%#: %s', (ir, message) => {
    expect(errorOf(ir).message).toBe(message);
  });

  it('fills every default into the resolved IR', () => {
    const r = rt.resolve(ok);
    expect(r.layers[0]).toEqual({ cell: 'LSTM', options: { units: 4, forgetBias: 1, chrono: false, tmax: null }, repeat: 1 });
    expect(r.layers[2]).toEqual({ type: 'dense', units: 2, activation: 'linear', useBias: true, init: 'glorot' });
    expect(r.input).toEqual({ shape: [10, 3], dtype: 'float32' });
  });

  it('build never leaks tf internals for bad IR: the error is a CellstackError', () => {
    expect(() => rt.build({ ...ok, layers: [{ cell: 'GRU', options: { units: -1 } }] })).toThrow(CellstackError);
  });

  it('refuses non-finite numbers anywhere (they would pass as integers or loop in a cell check)', () => {
    expect(errorOf({ ...ok, layers: [{ cell: 'LSTM', options: { units: Infinity } }] }).message).toBe('layers[0].options.units: must be an integer >= 1 (got Infinity)');
    expect(errorOf({ ...ok, layers: [{ cell: 'LSTM', options: { units: 4, tmax: Infinity } }] }).path).toBe('layers[0].options.tmax');
    expect(errorOf({ ...ok, layers: [{ type: 'dropout', rate: NaN }] }).message).toBe('layers[0].rate: must be a number in [0, 1) (got NaN)');
    expect(errorOf({ ...ok, layers: [ok.layers[0], ok.layers[1], { type: 'dense', units: 2 ** 60 }] }).message).toBe('layers[2].units: must be a whole number below 2^53, exactly representable (got 1152921504606847000)');
  });

  it('looks up own properties only: prototype names are unknown, never Object.prototype members', () => {
    expect(errorOf({ ...ok, layers: [{ type: 'constructor' }] }).path).toBe('layers[0].type');
    expect(errorOf({ ...ok, layers: [{ type: 'toString' }] }).path).toBe('layers[0].type');
    expect(errorOf({ ...ok, layers: [{ cell: 'constructor' }] }).code).toBe('unknown-cell');
    const proto = JSON.parse('{"type": "dense", "units": 2, "__proto__": 7}');
    expect(errorOf({ ...ok, layers: [ok.layers[0], ok.layers[1], proto] }).message).toMatch(/^layers\[2\]\.__proto__: unknown option '__proto__'/);
  });

  it('checks the repeat count, the layer count and the parameter budget before allocating anything', () => {
    expect(errorOf({ ...ok, layers: [{ cell: 'LSTM', repeat: 100000 }] }).message).toBe(`layers[0].repeat: must be an integer in [1, ${LIMITS.maxRepeat}] (got 100000)`);
    const deep = { ...ok, layers: Array.from({ length: 5 }, () => ({ cell: 'GRU', options: { units: 2 }, repeat: 256 })) };
    expect(errorOf(deep)).toMatchObject({ path: 'layers', code: 'too-large', detail: 'the model has 1280 layers (repeats counted); at most 1024' });
    const bytes = tf.memory().numBytes;
    // 212 inputs × 1e6 units: 213 M parameters, refused with the count, nothing allocated.
    const wide = { input: { shape: [10, 212] }, layers: [{ type: 'dense', units: 1e6 }] };
    const e = errorOf(wide);
    expect(e).toMatchObject({ path: 'layers[0]', code: 'too-large' });
    expect(e.detail).toBe('the model reaches 213,000,000 parameters here, over the budget of 50,000,000');
    expect(() => rt.build(wide)).toThrow(CellstackError);
    expect(tf.memory().numBytes).toBe(bytes);
    // LSTM(4) on 3 features: 4·4·(3 + 4 + 1) = 128 per copy; the repeat counts each copy.
    expect(() => rt.resolve({ ...ok, layers: [{ cell: 'LSTM', options: { units: 4 }, repeat: 3 }] }, { maxParams: 128 + 2 * 144 })).not.toThrow();
    expect(() => rt.resolve({ ...ok, layers: [{ cell: 'LSTM', options: { units: 4 }, repeat: 3 }] }, { maxParams: 128 + 2 * 144 - 1 })).toThrow('the model reaches 416 parameters here, over the budget of 415');
  });
});

describe('checkIR: one pass that collects every problem', () => {
  it('lists the problems of several layers, each with its path and code, in layer order', () => {
    const ir = {
      input: { shape: [10, 3] },
      layers: [
        { cell: 'LSTM', options: { unit: 4 } },
        { type: 'dense', units: 0 },
        { cell: 'GRU', options: { units: -1 }, repeat: 0 },
        { type: 'last' },
        { cell: 'LSTN' },
        { type: 'mean' },
        { type: 'embedding', vocab: 5, dim: 2 },
      ],
    };
    expect(rt.check(ir).map((p) => [p.path, p.code])).toEqual([
      ['layers[0].options.unit', 'unknown-option'],
      ['layers[1].units', 'bad-value'],
      ['layers[2].repeat', 'bad-value'],
      ['layers[2].options.units', 'bad-value'],
      ['layers[4].cell', 'unknown-cell'],
      ['layers[5]', 'pooling-twice'],
      ['layers[6]', 'embedding-not-first'],
    ]);
    const [pooling] = rt.check(ir).filter((p) => p.code === 'pooling-twice');
    expect(pooling).toEqual({ path: 'layers[5]', code: 'pooling-twice', message: "'mean' pools over time, but it was already pooled by 'last'", hint: 'pool once, after the last cell', related: 'layers[3]' });
    // resolve throws the first of the same list.
    expect(errorOf(ir).path).toBe('layers[0].options.unit');
  });

  it('after a bad layer still checks later options, but counts no parameters (the sizes are unknown)', () => {
    const ir = { input: { shape: [4, 2] }, layers: [{ cell: 'LSTM', options: { units: 'x' } }, { cell: 'GRU', options: { units: 0 } }, { type: 'dense', units: 1e6 }, { type: 'dense', units: 1e6 }] };
    expect(rt.check(ir).map((p) => p.path)).toEqual(['layers[0].options.units', 'layers[1].options.units']);
    // With the first layer fixed, the two dense layers cross the budget: reported once, where it is crossed.
    ir.layers[0] = { cell: 'LSTM', options: { units: 3 } };
    ir.layers[1] = { cell: 'GRU', options: { units: 2 } };
    expect(rt.check(ir).map((p) => [p.path, p.code])).toEqual([['layers[3]', 'too-large']]);
  });

  it('is empty for a valid IR and never throws on junk', () => {
    expect(rt.check(ok)).toEqual([]);
    for (const junk of [undefined, null, 5, 'x', [], { layers: 3 }, { input: 1, layers: [null, 'a', { cell: 7 }] }]) {
      const problems = rt.check(junk);
      expect(problems.length).toBeGreaterThan(0);
      for (const p of problems) expect(typeof p.code).toBe('string');
    }
  });
});

describe('model IR features', () => {
  it('builds every layer type with the expected shapes', () => {
    const seq = rt.build({
      input: { shape: [null, 1] },
      layers: [
        { type: 'embedding', vocab: 20, dim: 6 },
        { cell: 'GRU', options: { units: 5 }, repeat: 2 },
        { type: 'layerNorm' },
        { type: 'dropout', rate: 0.1 },
        { type: 'dense', units: 20, activation: 'softmax' },
      ],
      seed: 1,
    });
    expect(seq.outputs[0].shape).toEqual([null, null, 20]);
    const x = tf.tensor3d([[[1], [4], [19]]]);
    const y = seq.predict(x) as tf.Tensor;
    expect(y.shape).toEqual([1, 3, 20]);
    expect(tf.sum(y, -1).dataSync()[2]).toBeCloseTo(1, 5);
    const pooled = rt.build({ input: { shape: [7, 2] }, layers: [{ cell: 'SimpleRNN', options: { units: 3 } }, { type: 'mean' }, { type: 'dense', units: 1 }] });
    expect(pooled.outputs[0].shape).toEqual([null, 1]);
    tf.dispose([x, y]);
  });

  it('is reproducible for a seed and records the IR in the model metadata', () => {
    const ir = { ...ok, seed: 42 };
    const a = rt.build(ir);
    const b = rt.build(ir);
    const wa = a.getWeights().map((w) => Array.from(w.dataSync()));
    const wb = b.getWeights().map((w) => Array.from(w.dataSync()));
    expect(wa).toEqual(wb);
    expect(wa).not.toEqual(rt.build({ ...ok, seed: 43 }).getWeights().map((w) => Array.from(w.dataSync())));
    expect((a.getUserDefinedMetadata() as { cellstack: { ir: { seed: number } } }).cellstack.ir.seed).toBe(42);
  });
});
