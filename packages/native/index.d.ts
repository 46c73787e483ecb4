/**
 * C[M,N] (+)= A·B on `memory`, every operand a byte offset into it: A's element (i, k) at
 * float index A/4 + i·sa + k·sk, B row-major with row stride ldb, C with row stride ldc;
 * accumulate = 0 overwrites C. Throws a RangeError when an operand leaves the buffer.
 * Undefined when the addon is not built or the CPU lacks the instructions (see `isa`).
 */
export declare const matmul:
  | ((memory: ArrayBuffer, M: number, N: number, K: number, A: number, sa: number, sk: number, B: number, ldb: number, C: number,
      ldc: number, accumulate: number) => void)
  | undefined;
/**
 * `count` products as `matmul`'s, operand i advanced by i·bsa, i·bsb, i·bsc floats (bsc = 0: all summed
 * into one C, accumulating after the first): e.g. a layer's input projection, one product per sequence of
 * the batch, in one call split over the threads (whole products, or C's panels when they share a C).
 * Bit-identical to the `count` matmul calls for every thread count. Throws a RangeError when an operand
 * of any product leaves the buffer.
 */
export declare const matmulBatch:
  | ((memory: ArrayBuffer, count: number, bsa: number, bsb: number, bsc: number, M: number, N: number, K: number, A: number, sa: number,
      sk: number, B: number, ldb: number, C: number, ldc: number, accumulate: number) => void)
  | undefined;
/**
 * One recurrent step's gate math on `memory` over B rows of H units (byte offsets; ldz, ldp,
 * ldh: row strides in floats). kind 0, LSTM: z [B, 4H] holds the pre-activations (i f c̃ o)
 * and receives their sigmoid/tanh; c = f·prev + i·c̃ ([B, H], rows H apart); h = o·tanh(c).
 * kind 1, GRU reset: z [B, 3H]'s first 2H → sigmoid (z, r), h = r ∘ prev. kind 2, GRU blend:
 * z's last H → h̃ = tanh, h = h̃ + z ∘ (prev − h̃). kind 3, SimpleRNN: z [B, H] → tanh in place
 * (prev, c, h unused). c is read by kind 0 only. Rows split over
 * the threads like a product's (bit-identical for every thread count). Throws a RangeError
 * for a bad kind or an operand outside the buffer.
 */
export declare const gates:
  | ((memory: ArrayBuffer, kind: number, B: number, H: number, z: number, ldz: number, prev: number, ldp: number, c: number, h: number,
      ldh: number) => void)
  | undefined;
/**
 * One recurrent step's elementwise math for the cells without a `gates` kind, on `memory` over B
 * rows of H units. `args` is the byte offset of an int32 block in `memory`: per operand a byte
 * offset and a row stride in floats, then the kind's floats as their bits (JANET: β; UR-LSTM: zc, zh). kind 0, STAR: a [z | f]
 * ([B, 2H]) → [tanh z | σ(f)], h = tanh(hp + σ(f)·(tanh z − hp)); operands a, hp, h. kind 1, STAR
 * official: a → [tanh z | f], h = tanh(σ(f)·hp + (1 − σ(f − 1))·tanh z). kind 2 / 3, their gradients:
 * operands a (as saved), h, hp, dout, dh (in: ∂L/∂h_t from later steps; out: the part through
 * h_{t−1} directly), da [dz | dg] ([B, 2H]). kind 4, JANET: a [s | c] → [s | tanh c],
 * h = σ(s)·hp + (1 − σ(s − β))·tanh c; operands a, hp, h; β. kind 5, its gradient: a, hp, dout, dh,
 * da [ds | dc]; β. kind 6, SimpleRNN's gradient: da = (dh + dout)(1 − h²); operands h, dout, dh, da.
 * kind 7, UR-LSTM's forward step with the refine gate and zoneout expectations: a [f | r | o | u]
 * ([B, 4H]) → [σ f | σ r | σ o | tanh u], E = f² + 2r(f − f²), c̃ = u + E(cp − u), h̃ = o·tanh c̃,
 * c = c̃ + zc(cp − c̃), h = h̃ + zh(hp − h̃) (each only when its rate > 0); operands a, cp, hp, c, h; zc, zh.
 * kind 8, DMU's output layer with the tanh candidate: a [s | g] → [σ s | tanh g], h = σ(s)·hp +
 * (1 − σ(s))·tanh g; operands a, hp, h. kind 9, the LSTM step's gradient: a [i | f | g | o] ([B, 4H],
 * the saved activations) → dz, dc ← dc_t·f with dc_t = dc + (dh + dout)·o·(1 − tanh² c); operands a, c,
 * c_prev, dout, dh (read only), dc. kind 10, SimpleRNN's whole forward loop in one call: the block is
 * out, ldo, h0, ldh0, U, ldu (byte offsets, row strides in floats), then T (an int32); out [B, T·H]
 * holds z_t = x_t W + b at columns t·H and each becomes h_t = tanh(z_t + h_{t−1} U) in place, h_{−1} = h0,
 * U [H, H] — the same `matmul` and `gates` kind 3 work as T pairs of calls, bit-identical to them.
 * kind 11, the LSTM's whole forward loop, its input projection included: block a, ldz, cs, out, ldo, h0,
 * ldh0, c0, ldc0, V, ldv, F, xh, xhs, x, ldx, T; a [T·B, 4H] (step t's rows from t·B) gets z_t = [x_t, 1, h_{t−1}]·V
 * with V = [W; b; U] ([F + 1 + H, 4H]) and becomes the activations, x [B, T·F] (x_t at columns t·F), cs [T·B, H]
 * (rows H apart) c_t, out [B, T·H] h_t (the work of one `matmul` on the rows [x_t, 1, h_{t−1}] and `gates`
 * kind 0 a step); xh receives those rows (F + 1 + H floats each), step t's at float t·xhs: xhs 0 reuses one block of
 * B rows, B·(F + 1 + H) keeps all T·B for the weight gradients. kind 12, its whole
 * backward loop: block a, ldz, cs, c0, ldc0, dout, lddo, dh, lddh, dc, lddc, Uᵀ, ldut, T; a's
 * activations become dz (kind 9 a step, then dh ← dz_t Uᵀ); dh and dc hold ∂L/∂h and ∂L/∂c of the final
 * state on entry and of h0 and c0 on return. kind 13, the GRU's whole forward loop: block a, ldz, out, ldo, h0, ldh0, [U_z | U_r], ldu,
 * U_h, lduc, T (`matmul` + `gates` kinds 1 and 2 a step). Kinds 10–13 cut the batch into one slice
 * of rows per thread and each slice's T steps into 8 parts, claimed part by part in step order (a thread
 * that starts late takes over any slice's later parts; one pool job a pass); their results are
 * bit-identical to the per-step calls. Rows split over the threads like `gates` (bit-identical for every thread count).
 * Kinds 11–13 take an optional `second` buffer: an operand offset with bit 31 set is then bits 0–30 into it (e.g. the
 * forward's out or the backward's dout left on tfjs's heap, with the rest in a kernel's memory; the first buffer must
 * then be under 2 GiB). Throws a RangeError for a bad kind or T, or an operand outside its buffer.
 */
export declare const step: ((memory: ArrayBuffer, kind: number, B: number, H: number, args: number, second?: ArrayBuffer) => void) | undefined;
/**
 * A traced kernel's program (@cellstack/core's kernel/trace.c interpreter, whose one source is
 * src/trace-interp.c, compiled here with 8 lanes and FMA) over `steps` steps t = t0, t0 + dt, …
 * (dt 1 or −1), on `memory`: the program's int32 code at byte offset `code`, every buffer it names a
 * byte offset into `memory` (the wasm module's memory, which the module's own trace_run reads alike).
 * Products run on the threads of `matmul`. Returns their multiply-adds. Throws a RangeError for a
 * bad header, steps or dt, or code or a buffer address outside the buffer (the op records' extents
 * are trusted: core's lowering writes them).
 */
export declare const trace: ((memory: ArrayBuffer, code: number, steps: number, t0: number, dt: number) => number) | undefined;
/**
 * `parts` programs as `trace` runs one, side by side: their code offsets are the int32s at byte
 * offset `list` of `memory`, and each runs on a thread of its own (up to the `setThreads` count;
 * the caller's thread takes what no worker has started), its products on that thread. For blocks of
 * batch rows whose buffers do not overlap (@cellstack/core's traced kernels). Returns the products'
 * multiply-adds; throws as `trace` for any program, or for a list outside the buffer or parts not 1–64.
 */
export declare const traceParts: ((memory: ArrayBuffer, list: number, parts: number, steps: number, t0: number, dt: number) => number) | undefined;
/**
 * The most threads one product may use (1–64, capped; default 1 until set — @cellstack/core
 * sets its `threads` setting). Products split into whole 16-column panels (or 6-row blocks: a
 * narrow C, or a reduction under 64 over many rows) of at least 2^18 multiply-adds each, so
 * smaller ones stay on the calling thread and the results are bit-identical for every thread
 * count. Returns the value set.
 */
export declare const setThreads: ((n: number) => number) | undefined;
/** How many products have run on more than one thread (for tests and benchmarks). */
export declare const threadedProducts: (() => number) | undefined;
/**
 * Wake the pool's sleeping threads to spin (~0.4 ms) for a job about to come, so it does not wait for
 * the OS to schedule them: call it before the work (e.g. input copies) that precedes a product.
 */
export declare const wake: (() => void) | undefined;
/**
 * The recurrent steps' elementwise math (`gates` and every `step` kind) over 16 lanes (true, where the CPU has AVX-512)
 * or 8: every lane runs the same operations, so both give the same bits. Returns whether 16 are now in use.
 * Loading the addon turns 16 on for AMD CPUs with AVX-512 (Zen 4 on) and Intel from Ice Lake (where 512-bit
 * math does not lower the clock for the products after it); for tests and comparisons.
 */
export declare const setWide: ((on: boolean) => boolean) | undefined;
/** The instruction set of `matmul` ("avx2+fma", "neon"; ", gate math avx512f" where `setWide` is on by default), or "none: <why>". */
export declare const isa: string;
