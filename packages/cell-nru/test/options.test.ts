import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { CellstackError, runtimeOf } from '@cellstack/core';
import { NRU, cells } from '../src/index.js';

const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' }).use(NRU);
const ctx = { inputSize: 3, timesteps: null };

/** The CellstackError thrown by resolving these options (inside a model's layers[0]). */
function rejection(options: Record<string, unknown>): CellstackError {
  try {
    rt.build({ input: { shape: [5, 3] }, layers: [{ cell: 'NRU', options }, { type: 'dense', units: 1 }] });
  } catch (e) {
    expect(e).toBeInstanceOf(CellstackError);
    return e as CellstackError;
  }
  throw new Error(`options ${JSON.stringify(options)} were accepted`);
}

describe('NRU options', () => {
  it('fills every default from the authors\' code and the paper', () => {
    expect(NRU.resolveOptions({}, 'options', ctx)).toEqual({
      hidden: 80,
      memory: 64,
      heads: 4,
      headReduce: 'mean',
      headInputs: 'hm',
      outerProduct: 'shared',
      useRelu: false,
      layerNorm: false,
      memoryInit: 'torch',
    });
    expect(NRU.positional).toEqual(['hidden']);
    expect(cells).toEqual([NRU]);
    for (const [name, schema] of Object.entries(NRU.schema.properties)) expect(schema.description, name).toBeTruthy();
  });

  it.each([
    [{ hidden: 0 }, 'layers[0].options.hidden', />= 1/],
    [{ hidden: 2.5 }, 'layers[0].options.hidden', /integer/],
    [{ memory: 'big' }, 'layers[0].options.memory', /integer/],
    [{ heads: 0 }, 'layers[0].options.heads', />= 1/],
    [{ headReduce: 'max' }, 'layers[0].options.headReduce', /mean.*sum/],
    [{ headInputs: 'x' }, 'layers[0].options.headInputs', /hm.*xhm/],
    [{ outerProduct: 'none' }, 'layers[0].options.outerProduct', /shared.*perHead/],
    [{ useRelu: 'yes' }, 'layers[0].options.useRelu', /true or false/],
    [{ layerNorm: 1 }, 'layers[0].options.layerNorm', /true or false/],
    [{ memoryInit: 'xavier' }, 'layers[0].options.memoryInit', /torch.*zeros/],
    [{ units: 8 }, 'layers[0].options.units', /unknown option 'units'; allowed: hidden, memory, heads/],
  ])('rejects %j at %s', (options, path, message) => {
    const e = rejection(options);
    expect(e.path).toBe(path);
    expect(e.detail).toMatch(message);
  });

  it('rejects heads × memory that is not a perfect square, listing sizes that work', () => {
    const e = rejection({ memory: 60, heads: 4 });
    expect(e.path).toBe('layers[0].options.memory');
    expect(e.detail).toContain('√(4·60)');
    expect(e.detail).toContain('with heads 4 use memory 36, 49, 64, 81');
    expect(e.detail).toContain('with memory 60 use heads 15, 60');
    // Every size the message offers really is accepted.
    for (const memory of [36, 49, 64, 81]) expect(() => NRU.resolveOptions({ memory, heads: 4 }, 'options', ctx)).not.toThrow();
    for (const heads of [15, 60]) expect(() => NRU.resolveOptions({ memory: 60, heads }, 'options', ctx)).not.toThrow();
    // The paper's pMNIST (256, 4) and an odd split (256, 9: s = 48, heads straddle rows) are fine.
    expect(() => NRU.resolveOptions({ memory: 256, heads: 9 }, 'options', ctx)).not.toThrow();
  });

  it("rejects a non-square memory for outerProduct 'perHead'", () => {
    const e = rejection({ memory: 32, heads: 2, outerProduct: 'perHead' });
    expect(e.path).toBe('layers[0].options.memory');
    expect(e.detail).toMatch(/perfect square.*'perHead'.*use memory 16, 25, 36, 49/);
    // 32 with 2 heads is fine for the shared product (√64 = 8).
    expect(() => NRU.resolveOptions({ memory: 32, heads: 2 }, 'options', ctx)).not.toThrow();
  });

  it('offers sizes for any memory, at once: never an empty list, never a search without end', () => {
    const t = Date.now();
    const e = rejection({ memory: 99999999, heads: 3 });
    // 3·m is a square exactly for m = 3·j²: the nearest to 99,999,999 are j = 5772..5775.
    expect(e.detail).toContain('with heads 3 use memory 99947952, 99982587, 100017228, 100051875');
    for (const memory of [99947952, 100017228]) expect(() => NRU.resolveOptions({ memory, heads: 3 }, 'options', ctx)).not.toThrow();
    expect(rejection({ memory: 99999999, heads: 4 }).detail).toContain('with heads 4 use memory 99960004, 99980001, 100000000, 100020001');
    expect(rejection({ memory: 2 ** 40 + 1, outerProduct: 'perHead' }).detail).toMatch(/use memory \d+, \d+, \d+, \d+$/);
    // Infinity is no integer (it used to pass, then the search never ended).
    expect(rejection({ memory: Infinity }).detail).toBe('must be an integer >= 1 (got Infinity)');
    expect(Date.now() - t).toBeLessThan(1000);
  });
});
