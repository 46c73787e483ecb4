/*
 * Per-step elementwise math of the cells whose kernels have no `gates` kind (STAR, JANET, UR-LSTM's
 * forward with the refine gate, DMU's output layer), the LSTM's and SimpleRNN's backward, and whole
 * recurrences (SimpleRNN's forward, the LSTM's forward and backward, the GRU's forward), on the host's
 * 8 lanes with FMA, the batch rows split over the pool like `gates`: included by matmul.c (it shares
 * the pool, the Job and the vector math).
 *
 * step(memory, kind, B, H, args): args is the byte offset of an int32 block in `memory`
 * holding, per operand of `kind`, its byte offset and row stride in floats (then STEP_FLOATS'
 * floats: JANET's β, UR-LSTM's zc and zh). Operands are B rows of `width`·H floats (STEP_OPERANDS below).
 */

enum {
  STEP_STAR = 0,          /* a [z | f] → [tanh z | σ(f)] in place; h = tanh(hp + σ(f)(tanh z − hp)) */
  STEP_STAR_OFFICIAL = 1, /* a [z | f] → [tanh z | f]; h = tanh(σ(f)·hp + (1 − σ(f − 1))·tanh z) */
  STEP_STAR_GRAD = 2,     /* given a = [tanh z | s], h, hp, dout, dh: da [dz | dg], dh ← ∂L/∂h_{t−1} (direct part) */
  STEP_STAR_OFFICIAL_GRAD = 3,
  STEP_JANET = 4,      /* a [s | c] → [s | tanh c]; h = σ(s)·hp + (1 − σ(s − β))·tanh c */
  STEP_JANET_GRAD = 5, /* given a = [s | tanh c], hp, dout, dh: da [ds | dc], dh ← dh·σ(s) */
  STEP_TANH_GRAD = 6,  /* da = (dh + dout)(1 − h²) (SimpleRNN) */
  STEP_URLSTM = 7,     /* UR-LSTM with the refine gate, no zoneout masks: a [f | r | o | u] → activated; c, h (zc, zh) */
  STEP_DMU = 8,        /* DMU's output layer, tanh candidate: a [s | g] → [σ(s) | tanh g]; h = σ(s)·hp + (1 − σ(s))·tanh g */
  STEP_LSTM_GRAD = 9,  /* the LSTM step's gradient: a [i | f | g | o] (activations) → dz in place; dc ← ∂L/∂c_{t−1} */
  STEP_KINDS = 10,     /* the kinds above: one step's elementwise math, operands in the tables below */
  /* SimpleRNN's whole forward recurrence, h_t = tanh(z_t + h_{t−1} U) for t < T, in one call: the
     kernel's T steps were 2T host calls. Block: out, h0, U (offset and row stride each), then T. */
  STEP_SIMPLE_RNN = 10,
  /* The LSTM's whole forward recurrence (lstm.c's loop: z_t = [x_t, 1, h_{t−1}]·[W; b; U], then the gates) and its whole
     backward recurrence (the gate gradients, then dh_{t−1} = dz_t Uᵀ), each in one call; blocks below. */
  STEP_LSTM_LOOP = 11,
  STEP_LSTM_GRAD_LOOP = 12,
  /* The GRU's whole forward recurrence (gru.c's loop: both products and both gate calls a step). */
  STEP_GRU_LOOP = 13
};

/* Per kind: how many operands, and each one's width in units of H (in block order). */
static const int STEP_OPERANDS[STEP_KINDS][7] = {
    /* a, hp, h */ {3, 2, 1, 1},
    {3, 2, 1, 1},
    /* a, h, hp, dout, dh, da */ {6, 2, 1, 1, 1, 1, 2},
    {6, 2, 1, 1, 1, 1, 2},
    /* a, hp, h */ {3, 2, 1, 1},
    /* a, hp, dout, dh, da */ {5, 2, 1, 1, 1, 2},
    /* h, dout, dh, da */ {4, 1, 1, 1, 1},
    /* a, cp, hp, c, h */ {5, 4, 1, 1, 1, 1},
    /* a, hp, h */ {3, 2, 1, 1},
    /* a, c, cp, dout, dh, dc */ {6, 4, 1, 1, 1, 1, 1},
};
/* Per kind: how many floats follow the operands in the block (JANET's β; UR-LSTM's zoneout rates zc, zh). */
static const int STEP_FLOATS[STEP_KINDS] = {0, 0, 0, 0, 1, 1, 0, 2, 0, 0};

typedef struct {
  int kind, H;
  float *p[6];
  long ld[6];
  float f[2];
} StepArgs;

#ifdef WIDE
WIDE_BEGIN
#define LANES 16
#include "step-rows.h"
#undef LANES
WIDE_END
#endif

#ifdef ISA
#if defined(__x86_64__) && defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#elif defined(__x86_64__)
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

#define LANES 8
#include "step-rows.h"
#undef LANES

/*
 * The SimpleRNN, LSTM and GRU loops split the batch, not the product: each thread takes a contiguous
 * slice of the rows and runs every step on it (its rows' product and gate math), so a pass is one
 * pool job — one wake and one wait — where a product and a gate call a step made each step wait for
 * every thread. A row's product is the same code in the same order for any number of rows, so results
 * are bit-identical to one thread, and to the per-step `matmul` + `gates` / `step` calls.
 */
typedef struct {
  int T, B, H, F, slices;
  float *a, *cs, *out, *dh, *dc, *xh;
  const float *h0, *c0, *U, *dout, *Uc, *x;
  const float *Up, *Ucp; /* U and Uc packed for the loop (pack_panels), or NULL */
  long ldz, ldo, ldh0, ldc0, ldu, lddo, lddh, lddc, lduc, ldx, xhs;
} Loop;

/* A step's product against U (K × N, or Uc): its packed copy when the loop has one, else U in place. */
static inline void u_matmul(int M, int N, int K, const float *A, long sa, const float *Up, const float *U, long ldu, float *C, long ldc, int acc) {
  if (Up) matmul_packed(M, N, K, A, sa, 1, Up, (long)K * COLS, C, ldc, acc);
  else matmul(M, N, K, A, sa, 1, U, ldu, C, ldc, acc);
}

/* Slice i of s->slices: batch rows [B·i/slices, B·(i+1)/slices). */
static void slice_rows(const Loop *s, int i, int *r0, int *r1) {
  *r0 = (int)((long)s->B * i / s->slices);
  *r1 = (int)((long)s->B * (i + 1) / s->slices);
}

/*
 * a [T, B, 4H] (rows ldz apart, steps B·ldz) gets z_t = [x_t, 1, h_{t−1}] V with V = [W; b; U] ([F + 1 + H, 4H]),
 * then the activations; x [B, T·F] (x_t at columns t·F); cs [T, B, H] (rows H apart); out [B, T·H]; xh gets each
 * row's [x_t, 1, h_{t−1}] (F + 1 + H floats), step t's rows at t·xhs: xhs = 0 reuses one block of B rows, B·(F + 1 + H)
 * keeps every step's for the weight gradients (one product over these rows against dz, lstm.c's backward). The input
 * projection is one product with the recurrent one, a step at a time, so z_t is written once while in cache: a
 * separate pass over all of a wrote it out to memory and the loop read it back (13 MB a step at W1).
 */
static void lstm_forward_steps(const Loop *s, int slice, int i0, int i1) {
  int H = s->H, G = 4 * H, F = s->F, K = F + 1 + H, r0, r1;
  slice_rows(s, slice, &r0, &r1);
  long za = (long)s->B * s->ldz, zc = (long)s->B * H;
  for (int t = i0; t < i1; t++) {
    float *at = s->a + t * za;
    const float *hp = t ? s->out + (long)(t - 1) * H : s->h0, *cp = t ? s->cs + (t - 1) * zc : s->c0;
    long ldp = t ? s->ldo : s->ldh0, ldcp = t ? H : s->ldc0;
    for (int r = r0; r < r1; r++) {
      float *row = s->xh + t * s->xhs + (long)r * K;
      __builtin_memcpy(row, s->x + r * s->ldx + (long)t * F, sizeof(float) * (size_t)F);
      row[F] = 1.0f;
      __builtin_memcpy(row + F + 1, hp + r * ldp, sizeof(float) * (size_t)H);
    }
    u_matmul(r1 - r0, G, K, s->xh + t * s->xhs + (long)r0 * K, K, s->Up, s->U, s->ldu, at + r0 * s->ldz, s->ldz, 0);
    AT_WIDTH(lstm_rows)(r0, r1, H, at, s->ldz, cp, ldcp, s->cs + t * zc, s->out + (long)t * H, s->ldo);
  }
}

/* From t = T − 1 down: a's activations → dz (step kind 9), then dh = dz_t Uᵀ (U here is Uᵀ, [4H, H]). */
static void lstm_backward_steps(const Loop *s, int slice, int i0, int i1) {
  int H = s->H, G = 4 * H, r0, r1;
  slice_rows(s, slice, &r0, &r1);
  long za = (long)s->B * s->ldz, zc = (long)s->B * H;
  for (int t = s->T - 1 - i0; t > s->T - 1 - i1; t--) {
    float *dz = s->a + t * za;
    StepArgs g = {STEP_LSTM_GRAD, H, {dz, s->cs + t * zc, (float *)(t ? s->cs + (t - 1) * zc : s->c0), (float *)(s->dout + (long)t * H), s->dh, s->dc},
                  {s->ldz, H, t ? H : s->ldc0, s->lddo, s->lddh, s->lddc}, {0, 0}};
    AT_WIDTH(lstm_grad_rows)(&g, r0, r1);
    u_matmul(r1 - r0, H, G, dz + r0 * s->ldz, s->ldz, s->Up, s->U, s->ldu, s->dh + r0 * s->lddh, s->lddh, 0);
  }
}

/* a [T, B, 3H] holds x_t W + b; out [B, T·H]; U = [U_z | U_r] [H, 2H], Uc = U_h [H, H]. r ∘ h_{t−1} goes where h_t will be. */
static void gru_forward_steps(const Loop *s, int slice, int i0, int i1) {
  int H = s->H, r0, r1;
  slice_rows(s, slice, &r0, &r1);
  long za = (long)s->B * s->ldz;
  for (int t = i0; t < i1; t++) {
    float *at = s->a + t * za, *h = s->out + (long)t * H;
    const float *hp = t ? s->out + (long)(t - 1) * H : s->h0;
    long ldp = t ? s->ldo : s->ldh0;
    u_matmul(r1 - r0, 2 * H, H, hp + r0 * ldp, ldp, s->Up, s->U, s->ldu, at + r0 * s->ldz, s->ldz, 1);
    AT_WIDTH(gru_reset_rows)(r0, r1, H, at, s->ldz, hp, ldp, h, s->ldo);
    u_matmul(r1 - r0, H, H, h + r0 * s->ldo, s->ldo, s->Ucp, s->Uc, s->lduc, at + 2 * H + r0 * s->ldz, s->ldz, 1);
    AT_WIDTH(gru_blend_rows)(r0, r1, H, at, s->ldz, hp, ldp, h, s->ldo);
  }
}

/*
 * A slice's steps [i0, i1) in its loop's order (the backward loop's step i is t = T − 1 − i). Each slice's T steps run
 * in LOOP_PHASES parts, claimed phase by phase (slice 0's first part, slice 1's, …, then every slice's second part): a
 * thread that claims a part whose slice is still in its previous part waits for it. When a worker starts late (the OS,
 * or the VM, schedules it milliseconds late in ~10 % of loops here), the threads already running take its first parts
 * and it joins at the next free one: the loop then costs about half the delay instead of all of it.
 */
typedef void (*LoopSteps)(const Loop *s, int slice, int i0, int i1);
#define LOOP_PHASES 8
typedef struct {
  LoopSteps steps;
  const Loop *s;
  atomic_int done[MAX_THREADS]; /* per slice, its parts finished */
} Phased;

static void phased_parts(const void *ctx, int from, int to) {
  Phased *p = (Phased *)ctx;
  const Loop *s = p->s;
  for (int k = from; k < to; k++) {
    int slice = k % s->slices, phase = k / s->slices;
    while (atomic_load_explicit(&p->done[slice], memory_order_acquire) < phase) relax();
    p->steps(s, slice, (int)((long)s->T * phase / LOOP_PHASES), (int)((long)s->T * (phase + 1) / LOOP_PHASES));
    atomic_store_explicit(&p->done[slice], phase + 1, memory_order_release);
  }
}

/* A whole-sequence loop on one slice of the batch per thread (≥ 2^18 multiply-adds of products each). */
static void parallel_slices(LoopSteps steps, Loop *s, long work) {
  int threads = atomic_load(&pool.wanted);
  if (work / PART_MIN < threads) threads = (int)(work / PART_MIN);
  if (s->B < threads) threads = s->B;
  if (threads < 2 || pthread_mutex_trylock(&pool.submit) != 0) {
    s->slices = 1;
    steps(s, 0, 0, s->T);
    return;
  }
  s->slices = threads;
  Phased p = {steps, s, {0}};
  int parts = threads * LOOP_PHASES;
  pool.job = (Job){parts, s->H, 0, 0, 0, 0, -1, NULL, NULL, NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL, 0, 0, phased_parts, &p};
  run_parallel(threads, parts, parts);
}

/* parallel_slices with the loop's U ([K, N]) and the GRU's Uc ([H, H]) packed once for its T steps. */
static void packed_slices(LoopSteps steps, Loop *s, long work, int N, int K) {
  float *up = pack_panels(N, K, s->U, s->ldu), *ucp = s->Uc ? pack_panels(s->H, s->H, s->Uc, s->lduc) : NULL;
  s->Up = up;
  s->Ucp = ucp;
  parallel_slices(steps, s, work);
  free(up);
  free(ucp);
}

/* SimpleRNN: out [B, T·H] holds z_t = x_t W + b at columns t·H; each step becomes h_t = tanh(z_t + h_{t−1} U) in place. */
static void simple_rnn_steps(const Loop *s, int slice, int i0, int i1) {
  int H = s->H, r0, r1;
  slice_rows(s, slice, &r0, &r1);
  for (int t = i0; t < i1; t++) {
    float *h = s->out + (long)t * H;
    const float *hp = t ? h - H : s->h0;
    long ldp = t ? s->ldo : s->ldh0;
    u_matmul(r1 - r0, H, H, hp + r0 * ldp, ldp, s->Up, s->U, s->ldu, h + r0 * s->ldo, s->ldo, 1);
    AT_WIDTH(tanh_rows)(r0, r1, H, h, s->ldo);
  }
}

static void simple_rnn_loop(int T, int B, int H, float *out, long ldo, const float *h0, long ldh0, const float *U, long ldu) {
  Loop s = {.T = T, .B = B, .H = H, .out = out, .h0 = h0, .U = U, .ldo = ldo, .ldh0 = ldh0, .ldu = ldu};
  packed_slices(simple_rnn_steps, &s, (long)T * B * H * H, H, H);
}

static void step_rows(const void *ctx, int b0, int b1) {
  const StepArgs *s = ctx;
  switch (s->kind) {
    case STEP_STAR:
    case STEP_STAR_OFFICIAL: AT_WIDTH(star_rows)(s, b0, b1); break;
    case STEP_STAR_GRAD:
    case STEP_STAR_OFFICIAL_GRAD: AT_WIDTH(star_grad_rows)(s, b0, b1); break;
    case STEP_JANET: AT_WIDTH(janet_rows)(s, b0, b1); break;
    case STEP_JANET_GRAD: AT_WIDTH(janet_grad_rows)(s, b0, b1); break;
    case STEP_TANH_GRAD: AT_WIDTH(tanh_grad_rows)(s, b0, b1); break;
    case STEP_URLSTM: AT_WIDTH(urlstm_rows)(s, b0, b1); break;
    case STEP_DMU: AT_WIDTH(dmu_rows)(s, b0, b1); break;
    case STEP_LSTM_GRAD: AT_WIDTH(lstm_grad_rows)(s, b0, b1); break;
  }
}

#if defined(__x86_64__) && defined(__clang__)
#pragma clang attribute pop
#elif defined(__x86_64__)
#pragma GCC pop_options
#endif
#endif

/* step's kind STEP_SIMPLE_RNN: its block is out, ldo, h0, ldh0, U, ldu, T (int32s). */
static napi_value simple_rnn_step(napi_env env, void *base, size_t length, int32_t B, int32_t H, uint32_t at) {
  if ((int64_t)at + 4 * 7 > (int64_t)length) return fail(env, "step: the argument block lies outside the buffer");
  const int32_t *v = (const int32_t *)((char *)base + at);
  uint32_t out = (uint32_t)v[0], h0 = (uint32_t)v[2], U = (uint32_t)v[4];
  int32_t ldo = v[1], ldh0 = v[3], ldu = v[5], T = v[6];
  if (ldo < 0 || ldh0 < 0 || ldu < 0 || (out | h0 | U) & 3) return fail(env, "step: a negative row stride, or an operand offset not a multiple of 4");
  if (T < 0) return fail(env, "step: SimpleRNN's step count T is negative");
  if (extent(out, B, (int64_t)T * H, ldo, 1) > (int64_t)length || extent(h0, B, H, ldh0, 1) > (int64_t)length ||
      extent(U, H, H, ldu, 1) > (int64_t)length)
    return fail(env, "step: an operand lies outside the buffer");
#ifdef ISA
  char *m = base;
  simple_rnn_loop(T, B, H, (float *)(m + out), ldo, (const float *)(m + h0), ldh0, (const float *)(m + U), ldu);
#endif
  return NULL;
}

/*
 * step's kinds 11 to 13, the LSTM and GRU loops. Blocks of int32s (byte offsets, row strides in floats), T last:
 * 11: a, ldz, cs, out, ldo, h0, ldh0, c0, ldc0, V, ldv, F, xh, xhs, x, ldx, T (a, xh are written; V = [W; b; U]
 * [F + 1 + H, G], x [B, T·F], xh the rows [x_t, 1, h_{t−1}] with xhs 0 or B·(F + 1 + H), see lstm_forward_steps);
 * 12: a, ldz, cs, c0, ldc0, dout, lddo, dh, lddh, dc, lddc, Uᵀ, ldut, T;
 * 13: a, ldz, out, ldo, h0, ldh0, U, ldu, Uc, lduc, T. a [T, B, G] (step t's rows from t·B; G = 4H for the LSTM, 3H for
 * the GRU), cs [T, B, H] with rows H apart, out and dout [B, T·H], U [H, G] (the GRU's [U_z | U_r], [H, 2H]), Uᵀ [4H, H],
 * Uc (the GRU's U_h) [H, H].
 */
#define SECOND_BUFFER 0x80000000u

typedef struct {
  int at, ld; /* the operand's offset slot and stride slot (−1: rows H apart; −2: F + 1 + H apart) */
  int64_t rows, cols;
} Operand;

static napi_value loop_step(napi_env env, void *base, size_t length, void *second, size_t second_length, int32_t kind, int32_t B,
                            int32_t H, uint32_t at) {
  int gru = kind == STEP_GRU_LOOP, slots = kind == STEP_LSTM_LOOP ? 17 : kind == STEP_LSTM_GRAD_LOOP ? 14 : 11;
  if ((int64_t)at + 4 * slots > (int64_t)length) return fail(env, "step: the argument block lies outside the buffer");
  const int32_t *v = (const int32_t *)((char *)base + at);
  int32_t T = v[slots - 1];
  if (T < 0) return fail(env, gru ? "step: the GRU loop's step count T is negative" : "step: the LSTM loop's step count T is negative");
  int32_t F = kind == STEP_LSTM_LOOP ? v[11] : 0;
  if (F < 0) return fail(env, "step: the LSTM loop's input width F is negative");
  int64_t TB = (int64_t)T * B, G = (gru ? 3 : 4) * (int64_t)H, TH = (int64_t)T * H;
  int64_t K = F + 1 + (int64_t)H, xhs = kind == STEP_LSTM_LOOP ? v[13] : 0;
  const Operand fw[8] = {{0, 1, TB, G}, {2, -1, TB, H}, {3, 4, B, TH}, {5, 6, B, H}, {7, 8, B, H}, {9, 10, K, G}, {12, -2, xhs ? TB : B, K}, {14, 15, B, (int64_t)T * F}},
                bw[7] = {{0, 1, TB, G}, {2, -1, TB, H}, {3, 4, B, H}, {5, 6, B, TH}, {7, 8, B, H}, {9, 10, B, H}, {11, 12, G, H}},
                gr[5] = {{0, 1, TB, G}, {2, 3, B, TH}, {4, 5, B, H}, {6, 7, H, 2 * (int64_t)H}, {8, 9, H, H}};
  const Operand *ops = kind == STEP_LSTM_LOOP ? fw : kind == STEP_LSTM_GRAD_LOOP ? bw : gr;
  int n = kind == STEP_LSTM_LOOP ? 8 : kind == STEP_LSTM_GRAD_LOOP ? 7 : 5;
  float *p[8];
  long ld[8];
  for (int i = 0; i < n; i++) {
    uint32_t off = (uint32_t)v[ops[i].at];
    int32_t stride = ops[i].ld == -1 ? H : ops[i].ld == -2 ? (int32_t)K : v[ops[i].ld];
    /* With a second buffer, an offset with bit 31 set is bits 0–30 into it (an operand left where tfjs keeps it). */
    int there = second && off & SECOND_BUFFER;
    if (there) off &= ~SECOND_BUFFER;
    if (stride < 0 || off & 3) return fail(env, "step: a negative row stride, or an operand offset not a multiple of 4");
    if (extent(off, ops[i].rows, ops[i].cols, stride, 1) > (int64_t)(there ? second_length : length))
      return fail(env, there ? "step: an operand lies outside the second buffer" : "step: an operand lies outside the buffer");
    p[i] = (float *)((char *)(there ? second : base) + off);
    ld[i] = stride;
  }
  if (xhs != 0 && xhs != B * K) return fail(env, "step: the LSTM loop's row step xhs must be 0 (one block of B rows) or B·(F + 1 + H) (every step's rows)");
#ifdef ISA
  long work = (long)TB * G * (H + F);
  if (kind == STEP_LSTM_LOOP) {
    Loop s = {.T = T, .B = B, .H = H, .F = F, .a = p[0], .cs = p[1], .out = p[2], .h0 = p[3], .c0 = p[4], .U = p[5], .xh = p[6], .x = p[7],
              .ldz = ld[0], .ldo = ld[2], .ldh0 = ld[3], .ldc0 = ld[4], .ldu = ld[5], .ldx = ld[7], .xhs = (long)xhs};
    packed_slices(lstm_forward_steps, &s, work, 4 * H, F + 1 + H);
  } else if (kind == STEP_LSTM_GRAD_LOOP) {
    Loop s = {.T = T, .B = B, .H = H, .a = p[0], .cs = p[1], .c0 = p[2], .dout = p[3], .dh = p[4], .dc = p[5], .U = p[6],
              .ldz = ld[0], .ldc0 = ld[2], .lddo = ld[3], .lddh = ld[4], .lddc = ld[5], .ldu = ld[6]};
    packed_slices(lstm_backward_steps, &s, work, H, 4 * H);
  } else {
    Loop s = {.T = T, .B = B, .H = H, .a = p[0], .out = p[1], .h0 = p[2], .U = p[3], .Uc = p[4],
              .ldz = ld[0], .ldo = ld[1], .ldh0 = ld[2], .ldu = ld[3], .lduc = ld[4]};
    packed_slices(gru_forward_steps, &s, work, 2 * H, H);
  }
#endif
  return NULL;
}

static napi_value Step(napi_env env, napi_callback_info info) {
  void *base, *second;
  size_t length, second_length;
  int32_t v[4];
  if (!args_with(env, info, "step", "kind, sizes and offsets", 4, &base, &length, v, &second, &second_length)) return NULL;
  int32_t kind = v[0], B = v[1], H = v[2];
  uint32_t at = (uint32_t)v[3];
  if (kind < 0 || kind > STEP_GRU_LOOP)
    return fail(env, "step: kind must be 0 to 13 (STAR, STAR official, their gradients, JANET, its gradient, tanh gradient, UR-LSTM, DMU, LSTM gradient, SimpleRNN forward, LSTM forward, LSTM backward, GRU forward)");
  if (B < 0 || H < 0 || at & 3) return fail(env, "step: negative size, or an offset not a multiple of 4");
  if (second && kind < STEP_LSTM_LOOP) return fail(env, "step: only kinds 11 to 13 (the LSTM and GRU loops) take a second buffer");
  if (kind == STEP_SIMPLE_RNN) return simple_rnn_step(env, base, length, B, H, at);
  if (kind > STEP_SIMPLE_RNN) return loop_step(env, base, length, second, second_length, kind, B, H, at);
  const int *widths = STEP_OPERANDS[kind];
  int n = widths[0], slots = 2 * n + STEP_FLOATS[kind];
  if ((int64_t)at + 4 * slots > (int64_t)length) return fail(env, "step: the argument block lies outside the buffer");
  const int32_t *block = (const int32_t *)((char *)base + at);
  StepArgs s = {kind, H, {0}, {0}, {0, 0}};
  for (int i = 0; i < n; i++) {
    uint32_t p = (uint32_t)block[2 * i];
    int32_t ld = block[2 * i + 1];
    if (ld < 0 || p & 3) return fail(env, "step: a negative row stride, or an operand offset not a multiple of 4");
    if (extent(p, B, (int64_t)widths[i + 1] * H, ld, 1) > (int64_t)length) return fail(env, "step: an operand lies outside the buffer");
    s.p[i] = (float *)((char *)base + p);
    s.ld[i] = ld;
  }
  __builtin_memcpy(s.f, block + 2 * n, 4 * (size_t)STEP_FLOATS[kind]);
#ifdef ISA
  parallel_rows(step_rows, &s, B, H);
#endif
  return NULL;
}
