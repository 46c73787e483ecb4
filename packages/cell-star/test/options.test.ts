import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { CellstackError, runtimeOf } from '@cellstack/core';
import { STAR, cells } from '../src/index.js';

const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' }).use(STAR);
const build = (options: Record<string, unknown>) =>
  rt.build({ input: { shape: [10, 2] }, layers: [{ cell: 'STAR', options }, { type: 'last' }, { type: 'dense', units: 1 }] });

function errorOf(f: () => unknown): CellstackError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CellstackError);
    return e as CellstackError;
  }
  throw new Error('expected a CellstackError');
}

describe('STAR options', () => {
  it("defaults are the paper's: 128 units, paper form, chrono with tmax from the input", () => {
    expect(STAR.resolveOptions({})).toEqual({ units: 128, variant: 'paper', chrono: true, tmax: null });
    expect(STAR.positional).toEqual(['units']);
    expect(cells).toEqual([STAR]);
    expect(rt.cells().find((c) => c.name === 'STAR')?.defaults).toEqual({ units: 128, variant: 'paper', chrono: true, tmax: null });
  });

  it.each([
    [{ units: 0 }, 'layers[0].options.units', 'must be an integer >= 1 (got 0)'],
    [{ units: 2.5 }, 'layers[0].options.units', 'must be an integer >= 1 (got 2.5)'],
    [{ variant: 'janet' }, 'layers[0].options.variant', "must be one of 'paper' | 'official' (got 'janet')"],
    [{ tmax: 2 }, 'layers[0].options.tmax', 'must be an integer >= 3 or null (got 2)'],
    [{ chrono: 'yes' }, 'layers[0].options.chrono', "must be true or false (got 'yes')"],
    [{ chrono: false, tmax: 50 }, 'layers[0].options.tmax', 'only applies with chrono: true (got tmax 50 with chrono: false)'],
  ])('rejects %j at its path', (options, path, message) => {
    const e = errorOf(() => build(options));
    expect(e.path).toBe(path);
    expect(e.detail).toBe(message);
    expect(e.message).toBe(`${path}: ${message}`);
  });

  it('names unknown options and suggests the closest', () => {
    const e = errorOf(() => build({ unit: 8 }));
    expect(e.path).toBe('layers[0].options.unit');
    expect(e.detail).toBe("unknown option 'unit'; allowed: units, variant, chrono, tmax");
    expect(e.hint).toBe("did you mean 'units'?");
  });

  it('accepts every valid combination', () => {
    for (const options of [{ units: 4, variant: 'official' }, { units: 4, chrono: false }, { units: 4, tmax: 784 }]) {
      const model = build(options);
      expect(model.outputs[0].shape).toEqual([null, 1]);
      model.dispose();
    }
  });
});
