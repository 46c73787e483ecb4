import { describe, expect, it } from 'vitest';
import { buildCell, comparePadded, paddedPaths, paddedProblems } from '@cellstack/core/testing';
import { URGRU, URLSTM } from '../src/index.js';
import { PRESET_NAMES } from './reference.js';

const cases = [URLSTM, URGRU].flatMap((plugin) => PRESET_NAMES.map((preset) => [`${plugin.name} ${preset}`, plugin, preset] as const));

describe.each(cases)('%s on a padded batch', (_, plugin, preset) => {
  it.each(paddedPaths)('$path: real steps, final states and gradients equal each sequence run alone', ({ useFused, pad }) => {
    const built = buildCell(plugin, { units: 6, preset, chunkSize: 3 }, { inputSize: 3, seed: 4 });
    const r = comparePadded(built, { lengths: [5, 2, 4, 1, 5, 0], inputSize: 3, pad, useFused });
    expect(paddedProblems(r, { useFused, tol: 1e-4 })).toEqual([]);
    built.dispose();
  });
});
