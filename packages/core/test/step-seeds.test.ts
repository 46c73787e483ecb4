import { afterEach, describe, expect, it } from 'vitest';
import { hashSeed, setTrainingStep, stepSeeds } from '@cellstack/core';

describe('stepSeeds', () => {
  afterEach(() => setTrainingStep(undefined));

  it('draw k of step s is hashSeed(seed, label, s, k), whatever was drawn before (a resumed run draws the same)', () => {
    const a = stepSeeds(7, 'drop');
    setTrainingStep(3);
    const first = [a(), a()];
    expect(first).toEqual([hashSeed(7, 'drop', 3, 0) & 0x7fffffff, hashSeed(7, 'drop', 3, 1) & 0x7fffffff]);
    setTrainingStep(4);
    const next = a();
    // A fresh source (a resumed process) asked for step 4 directly gives step 4's draws.
    const b = stepSeeds(7, 'drop');
    expect(b()).toBe(next);
    setTrainingStep(3);
    expect([a(), a()]).toEqual(first);
    expect(stepSeeds(8, 'drop')()).not.toBe(first[0]);
    expect(stepSeeds(7, 'zone')()).not.toBe(first[0]);
  });

  it('without a training step the draws are numbered from creation', () => {
    const [a, b] = [stepSeeds(1, 'x'), stepSeeds(1, 'x')];
    const seq = [a(), a(), a()];
    expect([b(), b(), b()]).toEqual(seq);
    expect(new Set(seq).size).toBe(3);
    expect(seq.every((v) => Number.isInteger(v) && v >= 0 && v < 2 ** 31)).toBe(true);
  });
});
