import { describe, expect, it } from 'vitest';
import { RRU } from '../src/index.js';

const ctx = { inputSize: 3, timesteps: null };
const resolve = (o: Record<string, unknown>) => RRU.resolveOptions(o, 'options', ctx);

describe('RRU options', () => {
  it('fills the documented defaults', () => {
    expect(resolve({ units: 8 })).toEqual({
      units: 8,
      outputSize: 64,
      q: 2,
      reluLayers: 1,
      normalize: 'rms',
      sScale: 10,
      singleZ: false,
      dropout: 0.5,
      dropoutMask: 'step',
    });
    expect(RRU.positional).toEqual(['units']);
  });

  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ units: 0 }, /^options\.units: must be an integer >= 1 \(got 0\)/],
    [{ units: 2.5 }, /^options\.units: must be an integer/],
    [{ outputSize: 0 }, /^options\.outputSize: must be an integer >= 1/],
    [{ q: 0.05 }, /^options\.q: must be a number in \[0\.1, 8\] \(got 0\.05\)/],
    [{ q: 9 }, /^options\.q: must be a number in \[0\.1, 8\] \(got 9\)/],
    [{ reluLayers: 0 }, /^options\.reluLayers: must be an integer >= 1/],
    [{ normalize: 'layer' }, /^options\.normalize: must be one of 'rms' \| 'l2' \| 'none' \(got 'layer'\)/],
    [{ sScale: 0 }, /^options\.sScale: must be a number > 0 \(got 0\)/],
    [{ singleZ: 'yes' }, /^options\.singleZ: must be true or false/],
    [{ dropout: 1 }, /^options\.dropout: must be a number in \[0, 1\) \(got 1\)/],
    [{ dropout: -0.1 }, /^options\.dropout: must be a number in \[0, 1\) \(got -0\.1\)/],
    [{ dropoutMask: 'time' }, /^options\.dropoutMask: must be one of 'step' \| 'sequence' \(got 'time'\)/],
    [{ gates: 2 }, /^options\.gates: unknown option 'gates'; allowed: units, outputSize, q, reluLayers, normalize, sScale, singleZ, dropout, dropoutMask/],
  ];
  for (const [o, msg] of bad) {
    it(`rejects ${JSON.stringify(o)}`, () => {
      expect(() => resolve({ units: 4, ...o })).toThrow(msg);
    });
  }

  it('rejects a q that leaves no middle layer, naming q', () => {
    // round(0.1 · (3 + 1)) = 0
    expect(() => resolve({ units: 1, q: 0.1 })).toThrow(/^options\.q: gives a middle width round\(0\.1·\(3 \+ 1\)\) of 0; use q > 0\.13/);
    expect(() => resolve({ units: 2, q: 0.1 })).toThrow(/^options\.q: gives a middle width round\(0\.1·\(3 \+ 2\)\) of 0/); // round(0.5) = 0, as Python
    expect(() => resolve({ units: 3, q: 0.1 })).not.toThrow(); // round(0.6) = 1
  });
});
