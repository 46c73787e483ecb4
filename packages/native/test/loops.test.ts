import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import { expectWidthsAgree, fill, hasWide } from './seeded.js';

const { step, matmul, gates, setThreads, threadedProducts } = createRequire(import.meta.url)('@cellstack/native') as typeof import('@cellstack/native');

const LSTM_GRAD = 9;
const LSTM_LOOP = 11;
const LSTM_GRAD_LOOP = 12;
const GRU_LOOP = 13;
const [GATES_LSTM, GATES_GRU_RESET, GATES_GRU_BLEND] = [0, 1, 2];

/**
 * Float offsets of one LSTM layer's operands in one seeded buffer, every row stride padded: a [T·B, 4H]
 * (seeded: the forward loop overwrites it), cs [T·B, H] (rows H apart), out [B, T·H], h0, c0 [B, H], V = [W; b; U]
 * ([F + 1 + H, 4H], U × 1/√H; at.W, at.bias and at.U point into it), Uᵀ, dout [B, T·H], dh, dc [B, H], the input
 * x [B, T·F], the rows xh [T·B, F + 1 + H] (every step's, xhs = B·(F + 1 + H); seeded), then the forward (17 int32s)
 * and backward (14) blocks, then scratch: 12 int32s.
 */
function layout(T: number, B: number, H: number, F = 3) {
  const G = 4 * H;
  const K = F + 1 + H;
  const ld = { z: G + 1, o: T * H + 3, h0: H + 1, c0: H + 2, u: G + 2, ut: H + 2, dout: T * H + 1, dh: H + 3, dc: H + 1, x: T * F + 2 };
  const sizes = { a: T * B * ld.z, cs: T * B * H, out: B * ld.o, h0: B * ld.h0, c0: B * ld.c0, V: K * ld.u, Ut: G * ld.ut, dout: B * ld.dout, dh: B * ld.dh, dc: B * ld.dc, x: B * ld.x, xh: T * B * K };
  const at = {} as Record<keyof typeof sizes | 'W' | 'bias' | 'U' | 'fwd' | 'bwd' | 'scratch', number>;
  let end = 0;
  for (const [k, n] of Object.entries(sizes)) {
    at[k as keyof typeof sizes] = end;
    end += n;
  }
  [at.W, at.bias, at.U] = [at.V, at.V + F * ld.u, at.V + (F + 1) * ld.u];
  at.fwd = end;
  at.bwd = end + 17;
  at.scratch = at.bwd + 14;
  const mem = fill(new Float32Array(at.scratch + 12), T * 7 + B * 31 + H);
  for (let i = at.U; i < at.Ut; i++) mem[i] /= Math.sqrt(H);
  for (let k = 0; k < H; k++) for (let j = 0; j < G; j++) mem[at.Ut + j * ld.ut + k] = mem[at.U + k * ld.u + j];
  const ints = new Int32Array(mem.buffer);
  ints.set([4 * at.a, ld.z, 4 * at.cs, 4 * at.out, ld.o, 4 * at.h0, ld.h0, 4 * at.c0, ld.c0, 4 * at.V, ld.u, F, 4 * at.xh, B * K, 4 * at.x, ld.x, T], at.fwd);
  ints.set([4 * at.a, ld.z, 4 * at.cs, 4 * at.c0, ld.c0, 4 * at.dout, ld.dout, 4 * at.dh, ld.dh, 4 * at.dc, ld.dc, 4 * at.Ut, ld.ut, T], at.bwd);
  return { mem, at, ld, F, K };
}

/** The forward loop (and with `backward`, the backward loop after it) in one call each on `threads`. */
function loops(T: number, B: number, H: number, threads: number, backward: boolean): Float32Array {
  setThreads!(threads);
  const { mem, at } = layout(T, B, H);
  step!(mem.buffer as ArrayBuffer, LSTM_LOOP, B, H, 4 * at.fwd);
  if (backward) step!(mem.buffer as ArrayBuffer, LSTM_GRAD_LOOP, B, H, 4 * at.bwd);
  return mem;
}

/** The same work as per-step calls: rows [x_t, 1, h_{t−1}] into xh, one `matmul` by V + `gates` kind 0, then `step` kind 9 + `matmul`. */
function perStep(T: number, B: number, H: number, backward: boolean): Float32Array {
  const { mem, at, ld, F, K } = layout(T, B, H);
  const buf = mem.buffer as ArrayBuffer;
  const G = 4 * H;
  for (let t = 0; t < T; t++) {
    const z = 4 * (at.a + t * B * ld.z);
    const [hp, ldp] = t ? [4 * (at.out + (t - 1) * H), ld.o] : [4 * at.h0, ld.h0];
    const [cp, ldcp] = t ? [4 * (at.cs + (t - 1) * B * H), H] : [4 * at.c0, ld.c0];
    const rows = at.xh + t * B * K;
    for (let b = 0; b < B; b++) {
      mem.copyWithin(rows + b * K, at.x + b * ld.x + t * F, at.x + b * ld.x + t * F + F);
      mem[rows + b * K + F] = 1;
      mem.copyWithin(rows + b * K + F + 1, hp / 4 + b * ldp, hp / 4 + b * ldp + H);
    }
    matmul!(buf, B, G, K, 4 * rows, K, 1, 4 * at.V, ld.u, z, ld.z, 0);
    gates!(buf, GATES_LSTM, B, H, z, ld.z, cp, ldcp, 4 * (at.cs + t * B * H), 4 * (at.out + t * H), ld.o);
  }
  if (!backward) return mem;
  const block = at.scratch;
  for (let t = T - 1; t >= 0; t--) {
    const dz = 4 * (at.a + t * B * ld.z);
    const [cp, ldcp] = t ? [4 * (at.cs + (t - 1) * B * H), H] : [4 * at.c0, ld.c0];
    new Int32Array(buf).set([dz, ld.z, 4 * (at.cs + t * B * H), H, cp, ldcp, 4 * (at.dout + t * H), ld.dout, 4 * at.dh, ld.dh, 4 * at.dc, ld.dc], block);
    step!(buf, LSTM_GRAD, B, H, 4 * block);
    matmul!(buf, B, H, G, dz, ld.z, 1, 4 * at.Ut, ld.ut, 4 * at.dh, ld.dh, 0);
  }
  return mem;
}

/** Equal bits up to the LSTM layout's scratch (or, for the GRU's, its last 12 floats). */
const same = (a: Float32Array, b: Float32Array, end = a.length - 12) => Buffer.from(a.buffer, 0, 4 * end).equals(Buffer.from(b.buffer, 0, 4 * end));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

describe.skipIf(!step || !matmul || !gates || !setThreads || !threadedProducts)('the native LSTM loops (step kinds 11 and 12)', () => {
  afterAll(() => setThreads!(1));

  it.each([
    [1, 3, 13],
    [4, 7, 20],
  ])('T %i, B %i, H %i forward: c and h against float64 within 1e-5, a holds the activations, xh the rows, nothing else written', (T, B, H) => {
    const got = loops(T, B, H, 1, false);
    const { mem, at, ld, F, K } = layout(T, B, H);
    for (let b = 0; b < B; b++) {
      let h = Array.from({ length: H }, (_, j) => mem[at.h0 + b * ld.h0 + j]);
      let c = Array.from({ length: H }, (_, j) => mem[at.c0 + b * ld.c0 + j]);
      for (let t = 0; t < T; t++) {
        const row = at.a + (t * B + b) * ld.z;
        const xh = Array.from(got.subarray(at.xh + (t * B + b) * K, at.xh + (t * B + b + 1) * K));
        const hPrev = t ? Array.from(got.subarray(at.out + b * ld.o + (t - 1) * H, at.out + b * ld.o + t * H)) : h;
        expect(xh, `xh b ${b} t ${t}`).toEqual([...mem.subarray(at.x + b * ld.x + t * F, at.x + b * ld.x + t * F + F), 1, ...(t ? hPrev : h.map(Math.fround))]);
        const xw = (j: number) => Array.from({ length: F }, (_, f) => mem[at.x + b * ld.x + t * F + f] * mem[at.W + f * ld.u + j]).reduce((s, v) => s + v, mem[at.bias + j]);
        const z = Array.from({ length: 4 * H }, (_, j) => h.reduce((s, hk, k) => s + hk * mem[at.U + k * ld.u + j], xw(j)));
        const act = z.map((v, j) => (j >= 2 * H && j < 3 * H ? Math.tanh(v) : sigmoid(v)));
        c = c.map((cp, j) => act[H + j] * cp + act[j] * act[2 * H + j]);
        h = c.map((cj, j) => act[3 * H + j] * Math.tanh(cj));
        act.forEach((v, j) => expect(Math.abs(got[row + j] - v), `a b ${b} t ${t} j ${j}`).toBeLessThanOrEqual(1e-5));
        c.forEach((v, j) => expect(Math.abs(got[at.cs + (t * B + b) * H + j] - v), `c b ${b} t ${t} j ${j}`).toBeLessThanOrEqual(1e-5));
        h.forEach((v, j) => expect(Math.abs(got[at.out + b * ld.o + t * H + j] - v), `h b ${b} t ${t} j ${j}`).toBeLessThanOrEqual(1e-5));
      }
    }
    const written = (q: number) =>
      (q >= at.a && q < at.cs && (q - at.a) % ld.z < 4 * H) || (q >= at.cs && q < at.out) || (q >= at.out && q < at.h0 && (q - at.out) % ld.o < T * H) || (q >= at.xh && q < at.fwd);
    for (let q = 0; q < got.length; q++) if (!written(q) && !Object.is(got[q], mem[q])) throw new Error(`float ${q} changed`);
  });

  it.each([
    [6, 32, 128],
    [5, 37, 40],
    [4, 5, 100],
    [3, 2, 300],
  ])('T %i, B %i, H %i: forward and backward bit-identical on 1, 2, 3 and 5 threads and to the per-step calls; one pool job a pass', (T, B, H) => {
    for (const backward of [false, true]) {
      const one = loops(T, B, H, 1, backward);
      const end = layout(T, B, H).at.scratch;
      expect(same(one, perStep(T, B, H, backward), end), `per-step, backward ${backward}`).toBe(true);
      for (const n of [2, 3, 5]) {
        const before = threadedProducts!();
        expect(same(loops(T, B, H, n, backward), one, end), `${n} threads, backward ${backward}`).toBe(true);
        // Split when every slice has ≥ 2^18 multiply-adds of products and a row: one job a loop, not one a step.
        const slices = Math.min(n, Math.floor((T * B * 4 * H * (H + 3)) / 2 ** 18), B); // F 3: the projection counts

        expect(threadedProducts!() - before).toBe(slices >= 2 ? (backward ? 2 : 1) : 0);
      }
    }
  });

  it.skipIf(!hasWide).each([
    [5, 3, 13],
    [6, 9, 40],
  ])('T %i, B %i, H %i forward and backward: 16 lanes (setWide) give the bits of 8, on 1 and 2 threads', (T, B, H) => {
    expectWidthsAgree((threads) => loops(T, B, H, threads, true));
  });

  it('T 0 writes nothing; rejects a negative T, a block or an operand outside the buffer, a negative stride and a misaligned offset', () => {
    const { mem, at } = layout(2, 3, 4);
    const buf = mem.buffer as ArrayBuffer;
    const ints = new Int32Array(buf);
    for (const [kind, block, slots] of [
      [LSTM_LOOP, at.fwd, 17],
      [LSTM_GRAD_LOOP, at.bwd, 14],
    ]) {
      const T = block + slots - 1;
      ints[T] = 0;
      const start = Float32Array.from(mem);
      step!(buf, kind, 3, 4, 4 * block);
      expect(same(mem, start, at.scratch), `kind ${kind}`).toBe(true);
      ints[T] = -1;
      expect(() => step!(buf, kind, 3, 4, 4 * block)).toThrow(/the LSTM loop's step count T is negative/);
      ints[T] = 2;
      expect(() => step!(buf, kind, 3, 4, 4 * block)).not.toThrow();
      expect(() => step!(buf, kind, 3, 4, 4 * (mem.length - slots + 1))).toThrow(/argument block lies outside/);
      expect(() => step!(buf, kind, 3, 400, 4 * block)).toThrow(/operand lies outside/);
      expect(() => step!(buf, kind, 3, 4, 4 * block + 2)).toThrow(/multiple of 4/);
      ints[T] = 100000;
      expect(() => step!(buf, kind, 3, 4, 4 * block)).toThrow(/operand lies outside/);
      ints[T] = 2;
      const last = block + slots - 3; // the last operand's offset (U or Uᵀ), then its stride
      const [saved, stride] = [ints[last], ints[last + 1]];
      ints[last] = 4 * mem.length;
      expect(() => step!(buf, kind, 3, 4, 4 * block)).toThrow(/operand lies outside/);
      ints[last] = saved + 2;
      expect(() => step!(buf, kind, 3, 4, 4 * block)).toThrow(/multiple of 4/);
      ints[last] = saved;
      ints[last + 1] = -1;
      expect(() => step!(buf, kind, 3, 4, 4 * block)).toThrow(/negative row stride/);
      ints[last + 1] = stride;
    }
    // The forward block's input width F (slot 11): negative, or wider than x and W.
    ints[at.fwd + 11] = -1;
    expect(() => step!(buf, LSTM_LOOP, 3, 4, 4 * at.fwd)).toThrow(/input width F is negative/);
    ints[at.fwd + 11] = 1000;
    expect(() => step!(buf, LSTM_LOOP, 3, 4, 4 * at.fwd)).toThrow(/operand lies outside/);
    ints[at.fwd + 11] = 3;
    // The rows' step xhs (slot 13): 0 or B·(F + 1 + H) only.
    for (const xhs of [-1, 1, 3 * 8 - 1]) {
      ints[at.fwd + 13] = xhs;
      expect(() => step!(buf, LSTM_LOOP, 3, 4, 4 * at.fwd)).toThrow(/row step xhs must be 0 .* or B·\(F \+ 1 \+ H\)/);
    }
  });

  it('with a second buffer, offsets with bit 31 set lie in it: out (forward) and dout (backward) there give the same bits; bad second operands are named', () => {
    const [T, B, H] = [5, 7, 20];
    const all = loops(T, B, H, 2, true);
    setThreads!(2);
    const { mem, at, ld } = layout(T, B, H);
    const buf = mem.buffer as ArrayBuffer;
    const ints = new Int32Array(buf);
    const [outAt, doutAt] = [16, 16 + B * ld.o]; // floats into the second buffer
    const second = new Float32Array(doutAt + B * ld.dout);
    second.set(mem.subarray(at.out, at.out + B * ld.o), outAt);
    second.set(mem.subarray(at.dout, at.dout + B * ld.dout), doutAt);
    mem.fill(NaN, at.out, at.out + B * ld.o); // the first buffer's places are neither read nor written
    mem.fill(NaN, at.dout, at.dout + B * ld.dout);
    ints[at.fwd + 3] = 0x80000000 | (4 * outAt);
    ints[at.bwd + 5] = 0x80000000 | (4 * doutAt);
    step!(buf, LSTM_LOOP, B, H, 4 * at.fwd, second.buffer);
    step!(buf, LSTM_GRAD_LOOP, B, H, 4 * at.bwd, second.buffer);
    expect(mem.subarray(at.out, at.out + B * ld.o).every(Number.isNaN)).toBe(true);
    expect(Buffer.from(second.buffer, 4 * outAt, 4 * B * ld.o).equals(Buffer.from(all.buffer, 4 * at.out, 4 * B * ld.o))).toBe(true);
    expect(Array.from(second.subarray(doutAt))).toEqual(Array.from(all.subarray(at.dout, at.dout + B * ld.dout)));
    mem.set(all.subarray(at.out, at.out + B * ld.o), at.out);
    mem.set(all.subarray(at.dout, at.dout + B * ld.dout), at.dout);
    expect(same(mem.subarray(0, at.fwd), all.subarray(0, at.fwd), at.fwd)).toBe(true);

    ints[at.bwd + 5] = 0x80000000 | (4 * (doutAt + 2)); // its rows end 1 float short of a row stride
    expect(() => step!(buf, LSTM_GRAD_LOOP, B, H, 4 * at.bwd, second.buffer)).toThrow(/operand lies outside the second buffer/);
    expect(() => step!(buf, LSTM_GRAD_LOOP, B, H, 4 * at.bwd)).toThrow(/operand lies outside the buffer/); // without one, bit 31 is an offset
    expect(() => step!(buf, 0, B, H, 4 * at.bwd, second.buffer)).toThrow(/only kinds 11 to 13 .* take a second buffer/);
    expect(() => (step as unknown as (...a: unknown[]) => void)(buf, LSTM_GRAD_LOOP, B, H, 4 * at.bwd, 5)).toThrow(/step: the last argument must be an ArrayBuffer/);
  });

  it('xhs 0 reuses one block of B rows: the same a, c and h, the block ends with the last step\'s rows', () => {
    const [T, B, H] = [5, 7, 20];
    const all = loops(T, B, H, 2, false);
    setThreads!(2);
    const { mem, at, K } = layout(T, B, H);
    const ints = new Int32Array(mem.buffer);
    ints[at.fwd + 13] = 0;
    step!(mem.buffer as ArrayBuffer, LSTM_LOOP, B, H, 4 * at.fwd);
    expect(same(mem.subarray(0, at.xh), all.subarray(0, at.xh), at.xh)).toBe(true);
    expect(Array.from(mem.subarray(at.xh, at.xh + B * K))).toEqual(Array.from(all.subarray(at.xh + (T - 1) * B * K, at.xh + T * B * K)));
    expect(Array.from(mem.subarray(at.xh + B * K, at.fwd))).toEqual(Array.from(layout(T, B, H).mem.subarray(at.xh + B * K, at.fwd)));
  });
});

/** The GRU's operands: a [T·B, 3H], out [B, T·H], h0 [B, H], Ug = [U_z | U_r] [H, 2H], Uc = U_h [H, H] (× 1/√H), the block (11 int32s). */
function gruLayout(T: number, B: number, H: number) {
  const ld = { z: 3 * H + 1, o: T * H + 3, h0: H + 1, ug: 2 * H + 2, uc: H + 1 };
  const at = { a: 0, out: T * B * ld.z, h0: 0, Ug: 0, Uc: 0, block: 0 };
  at.h0 = at.out + B * ld.o;
  at.Ug = at.h0 + B * ld.h0;
  at.Uc = at.Ug + H * ld.ug;
  at.block = at.Uc + H * ld.uc;
  const mem = fill(new Float32Array(at.block + 11 + 12), T * 5 + B * 29 + H);
  for (let i = at.Ug; i < at.block; i++) mem[i] /= Math.sqrt(H);
  new Int32Array(mem.buffer).set([4 * at.a, ld.z, 4 * at.out, ld.o, 4 * at.h0, ld.h0, 4 * at.Ug, ld.ug, 4 * at.Uc, ld.uc, T], at.block);
  return { mem, at, ld };
}

function gruLoop(T: number, B: number, H: number, threads: number): Float32Array {
  setThreads!(threads);
  const { mem, at } = gruLayout(T, B, H);
  step!(mem.buffer as ArrayBuffer, GRU_LOOP, B, H, 4 * at.block);
  return mem;
}

/** kernel/gru.c's per-step calls: [U_z | U_r] product, `gates` kind 1, U_h product, `gates` kind 2. */
function gruPerStep(T: number, B: number, H: number): Float32Array {
  const { mem, at, ld } = gruLayout(T, B, H);
  const buf = mem.buffer as ArrayBuffer;
  for (let t = 0; t < T; t++) {
    const z = 4 * (at.a + t * B * ld.z), h = 4 * (at.out + t * H);
    const [hp, ldp] = t ? [h - 4 * H, ld.o] : [4 * at.h0, ld.h0];
    matmul!(buf, B, 2 * H, H, hp, ldp, 1, 4 * at.Ug, ld.ug, z, ld.z, 1);
    gates!(buf, GATES_GRU_RESET, B, H, z, ld.z, hp, ldp, 0, h, ld.o);
    matmul!(buf, B, H, H, h, ld.o, 1, 4 * at.Uc, ld.uc, z + 8 * H, ld.z, 1);
    gates!(buf, GATES_GRU_BLEND, B, H, z, ld.z, hp, ldp, 0, h, ld.o);
  }
  return mem;
}

describe.skipIf(!step || !matmul || !gates || !setThreads || !threadedProducts)('the native GRU forward loop (step kind 13)', () => {
  afterAll(() => setThreads!(1));

  it('T 4, B 7, H 20: z, r, h̃ and h against float64 within 1e-5, nothing else written', () => {
    const [T, B, H] = [4, 7, 20];
    const got = gruLoop(T, B, H, 1);
    const { mem, at, ld } = gruLayout(T, B, H);
    for (let b = 0; b < B; b++) {
      let h = Array.from({ length: H }, (_, j) => mem[at.h0 + b * ld.h0 + j]);
      for (let t = 0; t < T; t++) {
        const row = at.a + (t * B + b) * ld.z;
        const zr = Array.from({ length: 2 * H }, (_, j) => sigmoid(h.reduce((s, hk, k) => s + hk * mem[at.Ug + k * ld.ug + j], mem[row + j])));
        const rh = h.map((hk, k) => zr[H + k] * hk);
        const hh = Array.from({ length: H }, (_, j) => Math.tanh(rh.reduce((s, v, k) => s + v * mem[at.Uc + k * ld.uc + j], mem[row + 2 * H + j])));
        h = hh.map((v, j) => v + zr[j] * (h[j] - v));
        [...zr, ...hh].forEach((v, j) => expect(Math.abs(got[row + j] - v), `a b ${b} t ${t} j ${j}`).toBeLessThanOrEqual(1e-5));
        h.forEach((v, j) => expect(Math.abs(got[at.out + b * ld.o + t * H + j] - v), `h b ${b} t ${t} j ${j}`).toBeLessThanOrEqual(1e-5));
      }
    }
    const written = (q: number) => (q < at.out && (q - at.a) % ld.z < 3 * H) || (q >= at.out && q < at.h0 && (q - at.out) % ld.o < T * H);
    for (let q = 0; q < got.length; q++) if (!written(q) && !Object.is(got[q], mem[q])) throw new Error(`float ${q} changed`);
  });

  it.each([
    [6, 32, 128],
    [5, 37, 40],
    [4, 5, 100],
  ])('T %i, B %i, H %i: bit-identical on 1, 2, 3 and 5 threads and to the per-step calls; one pool job a pass', (T, B, H) => {
    const one = gruLoop(T, B, H, 1);
    expect(same(one, gruPerStep(T, B, H)), 'per-step').toBe(true);
    for (const n of [2, 3, 5]) {
      const before = threadedProducts!();
      expect(same(gruLoop(T, B, H, n), one), `${n} threads`).toBe(true);
      const slices = Math.min(n, Math.floor((T * B * 3 * H * H) / 2 ** 18), B);
      expect(threadedProducts!() - before).toBe(slices >= 2 ? 1 : 0);
    }
  });

  it.skipIf(!hasWide)('T 5, B 9, H 40: 16 lanes (setWide) give the bits of 8, on 1 and 2 threads', () => {
    expectWidthsAgree((threads) => gruLoop(5, 9, 40, threads));
  });

  it('T 0 writes nothing; rejects a negative T and a block or an operand outside the buffer', () => {
    const { mem, at } = gruLayout(2, 3, 4);
    const buf = mem.buffer as ArrayBuffer;
    const ints = new Int32Array(buf);
    ints[at.block + 10] = 0;
    const start = Float32Array.from(mem);
    step!(buf, GRU_LOOP, 3, 4, 4 * at.block);
    expect(same(mem, start)).toBe(true);
    ints[at.block + 10] = -1;
    expect(() => step!(buf, GRU_LOOP, 3, 4, 4 * at.block)).toThrow(/the GRU loop's step count T is negative/);
    ints[at.block + 10] = 2;
    expect(() => step!(buf, GRU_LOOP, 3, 4, 4 * at.block)).not.toThrow();
    expect(() => step!(buf, GRU_LOOP, 3, 4, 4 * (mem.length - 10))).toThrow(/argument block lies outside/);
    expect(() => step!(buf, GRU_LOOP, 3, 400, 4 * at.block)).toThrow(/operand lies outside/);
    ints[at.block + 8] = 4 * mem.length;
    expect(() => step!(buf, GRU_LOOP, 3, 4, 4 * at.block)).toThrow(/operand lies outside/);
  });
});
