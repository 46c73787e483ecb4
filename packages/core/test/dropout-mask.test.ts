import { describe, expect, it } from 'vitest';
import { dropoutMask, dropoutThreshold } from '../src/index.js';

// An independent reference in BigInt (exact mod-2^32 arithmetic, no Math.imul / int32 tricks).
const M = 2n ** 32n;
function reference(seed: number, index: number, keep: number): number {
  let x = (BigInt(seed) + BigInt(index) * 0x9e3779b9n) % M;
  x ^= x >> 16n;
  x = (x * 0x7feb352dn) % M;
  x ^= x >> 15n;
  x = (x * 0x846ca68bn) % M;
  x ^= x >> 16n;
  return Number(x >> 8n) < Math.round(keep * 2 ** 24) ? Math.fround(1 / keep) : 0;
}

describe('dropoutMask', () => {
  it('matches an exact BigInt reference, including indices past 2^31 and 2^32', () => {
    for (const [seed, offset, keep] of [[0, 0, 0.5], [123456789, 1000, 0.3], [2 ** 31 - 1, 2 ** 31 - 5, 0.9], [7, 2 ** 32 + 3, 0.5]]) {
      const got = dropoutMask(new Float32Array(16), seed, offset, keep);
      expect(Array.from(got)).toEqual(Array.from({ length: 16 }, (_, i) => reference(seed, offset + i, keep)));
    }
  });

  it('holds only 0 and 1/keep in float32, kept at rate keep', () => {
    for (const keep of [0.1, 0.5, 0.75]) {
      const m = dropoutMask(new Float32Array(200_000), 42, 0, keep);
      const kept = m.filter((v) => v !== 0);
      expect(kept.every((v) => v === Math.fround(1 / keep))).toBe(true);
      expect(Math.abs(kept.length / m.length - keep)).toBeLessThan(0.005);
    }
  });

  it('is a stream: a slice at an offset equals the same range of a longer mask; other seeds differ', () => {
    const whole = dropoutMask(new Float32Array(1000), 9, 0, 0.5);
    expect(dropoutMask(new Float32Array(300), 9, 500, 0.5)).toEqual(whole.subarray(500, 800));
    const other = dropoutMask(new Float32Array(1000), 10, 0, 0.5);
    const same = whole.filter((v, i) => v === other[i]).length;
    expect(same / 1000).toBeGreaterThan(0.4);
    expect(same / 1000).toBeLessThan(0.6);
  });

  it('keeps everything at keep = 1 (threshold 2^24)', () => {
    expect(dropoutThreshold(1)).toBe(2 ** 24);
    expect(dropoutMask(new Float32Array(100), 3, 0, 1).every((v) => v === 1)).toBe(true);
  });
});
