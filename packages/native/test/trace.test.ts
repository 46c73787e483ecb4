import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { fill } from './seeded.js';

const { trace, traceParts, setThreads } = createRequire(import.meta.url)('@cellstack/native') as typeof import('@cellstack/native');

// src/trace-interp.c's record codes and word counts.
const OP_WORDS = 32;
const [UNARY, BINARY, MATMUL] = [1, 2, 4];
const [TANH, ADD] = [6, 0];

/**
 * h_t = tanh(x_t + h_{t−1}·U) for t < T as a three-op program, every buffer a byte offset into one
 * memory: x [T, B, H] and the states [T + 1, B, H] step by B·H floats, U [H, H] and z [B, H] are fixed.
 */
function program(B: number, H: number, T: number) {
  const n = B * H;
  const at = { x: 0, U: T * n, z: T * n + H * H, hs: T * n + H * H + n };
  const codeAt = at.hs + (T + 1) * n;
  const mem = new Float32Array(codeAt + 6 + 3 * 5 + 3 * OP_WORDS);
  fill(mem.subarray(0, at.z), B * 7 + H + T);
  fill(mem.subarray(at.hs, at.hs + n), 11);
  const [x, U, z, prev, next] = [0, 1, 2, 3, 4];
  const table = [4 * at.x, n, 0, 4 * at.U, 0, 0, 4 * at.z, 0, 0, 4 * at.hs, n, 0, 4 * (at.hs + n), n, 0];
  const record = (...words: number[]) => [...words, ...new Array(OP_WORDS - words.length).fill(0)];
  const ops = [
    record(MATMUL, 0, z, prev, U, 1, B, H, H, H, 1, 0, 0, 0, 0, 0),
    record(BINARY, ADD, z, z, x, 1, 1, B, H, 0, 0, H, 1, 0, 0, H, 1),
    record(UNARY, TANH, next, z, n),
  ].flat();
  const code = new Int32Array(mem.buffer, 4 * codeAt);
  code.set([5, 3, 0, 0, 0, 32, ...table, ...ops]);
  return { mem, code, codeBytes: 4 * codeAt, at, n };
}

describe.skipIf(!trace)('trace (the traced-kernel interpreter on the addon)', () => {
  it.each([
    { B: 3, H: 20, T: 5 }, // 20 units: two 8-lane vectors and a tail of 4
    { B: 1, H: 3, T: 1 },
  ])('runs a recurrent program over T steps: B $B, H $H, T $T, against float64', ({ B, H, T }) => {
    const { mem, codeBytes, at, n } = program(B, H, T);
    const ref = Float64Array.from(mem);
    const macs = trace!(mem.buffer, codeBytes, T, 0, 1);
    expect(macs).toBe(T * B * H * H);
    for (let t = 0; t < T; t++)
      for (let b = 0; b < B; b++)
        for (let j = 0; j < H; j++) {
          let s = ref[at.x + t * n + b * H + j];
          for (let k = 0; k < H; k++) s += ref[at.hs + t * n + b * H + k] * ref[at.U + k * H + j];
          ref[at.hs + (t + 1) * n + b * H + j] = Math.tanh(s);
        }
    for (let i = at.hs; i < at.hs + (T + 1) * n; i++) expect(mem[i]).toBeCloseTo(ref[i], 5);
  });

  it('runs steps backwards (dt −1) from t0, as an adjoint does', () => {
    const { mem, codeBytes, at, n } = program(2, 4, 3);
    const first = mem.slice(at.hs + n, at.hs + 2 * n);
    trace!(mem.buffer, codeBytes, 1, 2, -1); // only t = 2: writes h_3 from h_2, leaves h_1
    expect(mem.slice(at.hs + n, at.hs + 2 * n)).toEqual(first);
    expect(mem.slice(at.hs + 3 * n, at.hs + 4 * n).every((v) => Math.abs(v) < 1 && v !== 0)).toBe(true);
  });

  it('rejects bad arguments and programs outside the memory, naming what is wrong', () => {
    const { mem, code, codeBytes } = program(2, 4, 3);
    const run = (...a: unknown[]) => () => (trace as unknown as (...x: unknown[]) => number)(...a);
    expect(run(mem.buffer, codeBytes, 3, 0)).toThrow(/trace takes 5 arguments/);
    expect(run(new Float32Array(4), codeBytes, 3, 0, 1)).toThrow(/trace: the first argument must be an ArrayBuffer/);
    expect(run(mem.buffer, codeBytes + 2, 3, 0, 1)).toThrow(/trace: the code offset is not a multiple of 4 or lies outside/);
    expect(run(mem.buffer, mem.byteLength, 3, 0, 1)).toThrow(/lies outside the buffer/);
    expect(run(mem.buffer, codeBytes, -1, 0, 1)).toThrow(/steps must be ≥ 0 and dt 1 or −1/);
    expect(run(mem.buffer, codeBytes, 3, 0, 2)).toThrow(/steps must be ≥ 0 and dt 1 or −1/);
    expect(run(mem.buffer, codeBytes, 2, 0, -1)).toThrow(/a step before t = 0/);
    expect(run(mem.buffer, codeBytes, 100, 0, 1)).toThrow(/a buffer of the program lies outside the memory/); // x_99 starts past the end
    code[1] = 1000;
    expect(run(mem.buffer, codeBytes, 3, 0, 1)).toThrow(/the code runs past the end of the buffer/);
    code[1] = -1;
    expect(run(mem.buffer, codeBytes, 3, 0, 1)).toThrow(/a negative count in the code's header/);
  });
});

describe.skipIf(!traceParts)('traceParts (programs side by side, one a thread)', () => {
  /** Two copies of one program's buffers and code in one memory: the second's addresses shifted past the first. */
  const twoPrograms = (B: number, H: number, T: number) => {
    const one = program(B, H, T);
    const mem = new Float32Array(2 * one.mem.length + 2);
    mem.set(one.mem);
    mem.set(one.mem, one.mem.length);
    const shift = 4 * one.mem.length;
    const second = new Int32Array(mem.buffer, one.codeBytes + shift, one.code.length);
    for (let i = 0; i < 5; i++) second[6 + 3 * i] += shift; // the buffer table's addresses
    const list = new Int32Array(mem.buffer, 8 * one.mem.length, 2);
    list.set([one.codeBytes, one.codeBytes + shift]);
    return { one, mem, list: 8 * one.mem.length };
  };

  it.each([1, 2])('on %d thread(s): each program equals it run alone, and the products sum', (threads) => {
    setThreads!(threads);
    const { one, mem, list } = twoPrograms(3, 20, 5);
    const macs = traceParts!(mem.buffer, list, 2, 5, 0, 1);
    expect(macs).toBe(2 * 5 * 3 * 20 * 20);
    const alone = program(3, 20, 5);
    trace!(alone.mem.buffer, alone.codeBytes, 5, 0, 1);
    const states = (m: Float32Array, from: number) => m.slice(from + alone.at.hs, from + alone.at.hs + 6 * alone.n);
    expect(states(mem, 0)).toEqual(states(alone.mem, 0));
    expect(states(mem, one.mem.length)).toEqual(states(alone.mem, 0));
    setThreads!(1);
  });

  it('rejects a bad list or part count, and checks every program as trace does', () => {
    const { one, mem, list } = twoPrograms(2, 4, 3);
    const run = (...a: unknown[]) => () => (traceParts as unknown as (...x: unknown[]) => number)(...a);
    expect(run(mem.buffer, list, 2, 3, 0)).toThrow(/traceParts takes 6 arguments/);
    expect(run(mem.buffer, list, 0, 3, 0, 1)).toThrow(/parts must be 1 to 64/);
    expect(run(mem.buffer, list, 65, 3, 0, 1)).toThrow(/parts must be 1 to 64/);
    expect(run(mem.buffer, list + 2, 2, 3, 0, 1)).toThrow(/the list offset is not a multiple of 4 or the list lies outside/);
    expect(run(mem.buffer, mem.byteLength - 4, 2, 3, 0, 1)).toThrow(/the list lies outside the buffer/);
    new Int32Array(mem.buffer, list, 2)[1] = one.codeBytes + 2;
    expect(run(mem.buffer, list, 2, 3, 0, 1)).toThrow(/trace: the code offset is not a multiple of 4/);
    new Int32Array(mem.buffer, list, 2)[1] = one.codeBytes;
    expect(run(mem.buffer, list, 2, 100, 0, 1)).toThrow(/a buffer of the program lies outside the memory/);
  });
});
