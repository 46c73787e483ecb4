import { describe, expect, it } from 'vitest';
import { CellstackError, createRuntime } from '@cellstack/core';
import { URGRU, URLSTM, cells } from '../src/index.js';

const ctx = { inputSize: 3, timesteps: 10 };
const errorOf = (plugin: typeof URLSTM | typeof URGRU, options: unknown): CellstackError => {
  try {
    plugin.resolveOptions(options, 'options', ctx);
  } catch (e) {
    return e as CellstackError;
  }
  throw new Error(`no error for ${JSON.stringify(options)}`);
};

describe('options', () => {
  it('fills the paper defaults: preset UR-, trained tied bias, chunk 16, no zoneout', () => {
    expect(URLSTM.resolveOptions({ units: 8 }, 'options', ctx)).toEqual({
      units: 8, preset: 'UR-', forgetBias: 1, chunkSize: 16, gateBias: 'trained', refineBias: 'tied', weightInit: 'uniform', zc: 0, zh: 0,
    });
    expect(URGRU.resolveOptions({}, 'options', ctx)).toMatchObject({ units: 128, preset: 'UR-', zh: 0 });
  });

  it('registers as URLSTM and URGRU with units positional', async () => {
    expect(cells.map((c) => c.name)).toEqual(['URLSTM', 'URGRU']);
    expect(URLSTM.positional).toEqual(['units']);
    const rt = await createRuntime({ backend: 'cpu' });
    for (const c of cells) rt.use(c);
    expect(rt.cells().map((c) => c.name)).toEqual(expect.arrayContaining(['URLSTM', 'URGRU']));
  });

  it.each([
    [URLSTM, { units: 0 }, 'options.units', 'must be an integer >= 1 (got 0)'],
    [URLSTM, { preset: 'UR' }, 'options.preset', "must be one of '-' | 'C-' | 'U-' | 'R-' | 'UR-' | 'O-' | 'OM-' | 'UM-' | 'OR-' | 'c-'"],
    [URLSTM, { init: 'ugi' }, 'options.init', "must be one of 'standard' | 'chrono' | 'uniform' (got 'ugi')"],
    [URLSTM, { refine: 'yes' }, 'options.refine', "must be one of 'none' | 'refine' | 'master' (got 'yes')"],
    [URLSTM, { activation: 'relu' }, 'options.activation', "must be one of 'sigmoid' | 'cumax' (got 'relu')"],
    [URLSTM, { gateBias: 'fixed' }, 'options.gateBias', "must be one of 'trained' | 'frozen' (got 'fixed')"],
    [URLSTM, { refineBias: 'shared' }, 'options.refineBias', "must be one of 'tied' | 'independent' (got 'shared')"],
    [URLSTM, { zc: 1 }, 'options.zc', 'must be a number in [0, 1) (got 1)'],
    [URGRU, { zh: -0.1 }, 'options.zh', 'must be a number in [0, 1) (got -0.1)'],
    [URGRU, { zc: 0.5 }, 'options.zc', "unknown option 'zc'"],
    [URLSTM, { preset: 'C-', tmax: 2 }, 'options.tmax', 'must be a number > 2 (got 2)'],
    [URLSTM, { chunkSize: 0 }, 'options.chunkSize', 'must be an integer >= 1 (got 0)'],
    [URLSTM, { units: 8, preset: 'O-', init: 'uniform' }, 'options.init', "must be 'standard' with activation 'cumax'"],
    [URLSTM, { units: 8, activation: 'cumax' }, 'options.init', "must be 'standard' with activation 'cumax'"],
    [URLSTM, { units: 8, tmax: 50 }, 'options.tmax', "applies only with init 'chrono' (init is 'uniform')"],
    [URGRU, { units: 8, preset: '-', gateBias: 'frozen' }, 'options.gateBias', "'frozen' applies only to init 'chrono' or 'uniform'"],
    [URLSTM, { units: 10, preset: 'OM-', chunkSize: 4 }, 'options.chunkSize', 'must divide units (10) for master gates (got 4)'],
    [URGRU, { units: 10, preset: 'UM-' }, 'options.chunkSize', 'must divide units (10) for master gates (got 16)'],
  ] as const)('%s rejects %j at %s', (plugin, options, path, message) => {
    const e = errorOf(plugin, options);
    expect(e).toBeInstanceOf(CellstackError);
    expect(e.path).toBe(path);
    expect(e.detail).toContain(message);
  });

  it('suggests the closest option name for a typo', () => {
    const e = errorOf(URLSTM, { unit: 4 });
    expect(e.path).toBe('options.unit');
    expect(e.message).toContain("did you mean 'units'?");
  });

  it('accepts the valid combinations: chunk size only matters for master gates', () => {
    expect(() => URLSTM.resolveOptions({ units: 10, preset: 'UR-' }, 'options', ctx)).not.toThrow();
    expect(() => URLSTM.resolveOptions({ units: 32, preset: 'C-', tmax: 50, gateBias: 'frozen' }, 'options', ctx)).not.toThrow();
    // lower-case preset names: tfjs model files store string options lower-cased
    expect(() => URGRU.resolveOptions({ units: 32, preset: 'om-', chunkSize: 8 }, 'options', ctx)).not.toThrow();
  });
});
