/*
 * cellstack fused-kernel toolkit: header-only, freestanding C for clang's wasm32 target
 * with SIMD128. A cell plugin's kernel/<cell>.c includes this file and exports a forward
 * and a backward function over the whole sequence; src/kernel.ts in @cellstack/core
 * loads the module and wraps the pair as one tf op with a custom gradient.
 *
 * Layout conventions: every sequence array is time-major [T, B, k], row-major and
 * contiguous; weights are row-major [in, out] as in the tf layer. No libc: memory comes
 * from the JS side (a bump allocator over the module's own linear memory).
 */
#ifndef CELLSTACK_KERNEL_H
#define CELLSTACK_KERNEL_H

#include <wasm_simd128.h>

#define CS_EXPORT(name) __attribute__((export_name(#name))) void name
#define CS_INLINE static inline __attribute__((always_inline))

typedef v128_t f4;

CS_INLINE f4 f4s(float x) { return wasm_f32x4_splat(x); }
CS_INLINE f4 f4ld(const float *p) { return wasm_v128_load(p); }
CS_INLINE void f4st(float *p, f4 v) { wasm_v128_store(p, v); }

/* exp with Cephes' polynomial: ~1 ulp on [-87, 88]; outside, clamped (0 / large). */
CS_INLINE f4 f4exp(f4 x) {
  x = wasm_f32x4_pmin(wasm_f32x4_pmax(x, f4s(-87.0f)), f4s(88.0f));
  f4 n = wasm_f32x4_nearest(wasm_f32x4_mul(x, f4s(1.44269504088896341f)));
  f4 r = wasm_f32x4_sub(x, wasm_f32x4_mul(n, f4s(0.693359375f)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, f4s(-2.12194440e-4f)));
  f4 p = f4s(1.9875691500e-4f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), f4s(1.3981999507e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), f4s(8.3334519073e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), f4s(4.1665795894e-2f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), f4s(1.6666665459e-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), f4s(5.0000001201e-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(p, r), r), wasm_f32x4_add(r, f4s(1.0f)));
  f4 scale = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23);
  return wasm_f32x4_mul(p, scale);
}

CS_INLINE f4 f4sigmoid(f4 x) {
  return wasm_f32x4_div(f4s(1.0f), wasm_f32x4_add(f4s(1.0f), f4exp(wasm_f32x4_neg(x))));
}

/* tanh: Cephes' odd polynomial below 0.625 (no cancellation near 0), else 1 − 2/(e^{2|x|}+1). */
CS_INLINE f4 f4tanh(f4 x) {
  f4 ax = wasm_f32x4_abs(x);
  f4 z = wasm_f32x4_mul(x, x);
  f4 p = f4s(-5.70498872745e-3f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, z), f4s(2.06390887954e-2f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, z), f4s(-5.37397155531e-2f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, z), f4s(1.33314422036e-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, z), f4s(-3.33332819422e-1f));
  f4 small = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(p, z), x), x);
  f4 e = f4exp(wasm_f32x4_mul(ax, f4s(2.0f)));
  f4 big = wasm_f32x4_sub(f4s(1.0f), wasm_f32x4_div(f4s(2.0f), wasm_f32x4_add(e, f4s(1.0f))));
  big = wasm_v128_or(big, wasm_v128_and(x, wasm_i32x4_splat((int)0x80000000)));
  return wasm_v128_bitselect(small, big, wasm_f32x4_lt(ax, f4s(0.625f)));
}

/* The k ≤ 4 floats at p (a row's tail when k < 4) as one zero-padded vector, and back. */
CS_INLINE f4 cs_ldk(const float *p, int k) {
  if (k == 4) return f4ld(p);
  float t[4] = {0, 0, 0, 0};
  for (int i = 0; i < k; i++) t[i] = p[i];
  return f4ld(t);
}
CS_INLINE void cs_stk(float *p, f4 v, int k) {
  if (k == 4) {
    f4st(p, v);
    return;
  }
  float t[4];
  f4st(t, v);
  for (int i = 0; i < k; i++) p[i] = t[i];
}

CS_INLINE float cs_exp(float x) { return wasm_f32x4_extract_lane(f4exp(f4s(x)), 0); }
CS_INLINE float cs_sigmoid(float x) { return wasm_f32x4_extract_lane(f4sigmoid(f4s(x)), 0); }
CS_INLINE float cs_tanh(float x) { return wasm_f32x4_extract_lane(f4tanh(f4s(x)), 0); }

/*
 * Inverted-dropout mask for elements [offset, offset + n) of stream `seed`: scale where the
 * top 24 bits of lowbias32(seed + i·0x9e3779b9) are below `threshold`, else 0. The C twin of
 * dropoutMask in @cellstack/core (src/rng.ts), which passes threshold and scale.
 */
static inline void cs_dropout_mask(float *m, int n, unsigned seed, unsigned offset, unsigned threshold, float scale) {
  for (int i = 0; i < n; i++) {
    unsigned x = seed + (offset + (unsigned)i) * 0x9e3779b9u;
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    m[i] = (x >> 8) < threshold ? scale : 0.0f;
  }
}

/* In place over n floats: the vector body plus a scalar tail through the same formulas. */
#define CS_MAP_INPLACE(fname, vf, sf)                                  \
  static inline void fname(float *x, int n) {                          \
    int i = 0;                                                         \
    for (; i + 4 <= n; i += 4) f4st(x + i, vf(f4ld(x + i)));           \
    for (; i < n; i++) x[i] = sf(x[i]);                                \
  }
CS_MAP_INPLACE(cs_sigmoid_inplace, f4sigmoid, cs_sigmoid)
CS_MAP_INPLACE(cs_tanh_inplace, f4tanh, cs_tanh)

static inline void cs_copy(float *dst, const float *src, int n) { __builtin_memcpy(dst, src, (unsigned long)n * sizeof(float)); }
static inline void cs_zero(float *dst, int n) { __builtin_memset(dst, 0, (unsigned long)n * sizeof(float)); }

#ifndef CS_HEAP_MODULE
/*
 * The optional native addon (@cellstack/native) multiplies with 256-bit FMA at ~2× these
 * loops' speed. src/native.ts in @cellstack/core supplies this import and switches it on
 * with cs_use_host(n): products of at least n multiply-adds go to the host (a call costs
 * ~0.3 µs), 0 keeps all in wasm. Modules on tfjs's heap (CS_HEAP_MODULE) may own no
 * memory, so they have no switch and always multiply here.
 */
__attribute__((import_module("env"), import_name("cs_host_matmul"))) void cs_host_matmul(int M, int N, int K, const float *A, int sa,
                                                                                       int sk, const float *B, int ldb, float *C,
                                                                                       int ldc, int accumulate);
static int cs_host_min;
CS_EXPORT(cs_use_host)(int min_product) { cs_host_min = min_product; }

/* `count` products in one host call (the addon's matmulBatch; see cs_matmul_batch below). */
__attribute__((import_module("env"), import_name("cs_host_matmul_batch"))) void cs_host_matmul_batch(int count, int bsa, int bsb, int bsc, int M,
                                                                                                   int N, int K, const float *A, int sa,
                                                                                                   int sk, const float *B, int ldb,
                                                                                                   float *C, int ldc, int accumulate);

/*
 * A recurrent step's gate math on the host (8 lanes, FMA, rows split over its threads), which
 * kernels call while their products go there (cs_host_min > 0): the `gates` export of
 * @cellstack/native, whose comment gives each kind's operands. Row strides in floats.
 */
enum { CS_GATES_LSTM = 0, CS_GATES_GRU_RESET = 1, CS_GATES_GRU_BLEND = 2, CS_GATES_TANH = 3 };
__attribute__((import_module("env"), import_name("cs_host_gates"))) void cs_host_gates(int kind, int B, int H, float *z, int ldz,
                                                                                     const float *prev, int ldp, float *c, float *h,
                                                                                     int ldh);

/*
 * The other cells' step math on the host (the `step` export of @cellstack/native): `args` holds
 * per operand its address and row stride in floats (then JANET's β, or UR-LSTM's zc and zh, as floats' bits).
 */
enum {
  CS_STEP_STAR = 0,
  CS_STEP_STAR_OFFICIAL = 1,
  CS_STEP_STAR_GRAD = 2,
  CS_STEP_STAR_OFFICIAL_GRAD = 3,
  CS_STEP_JANET = 4,
  CS_STEP_JANET_GRAD = 5,
  CS_STEP_TANH_GRAD = 6,
  CS_STEP_URLSTM = 7,
  CS_STEP_DMU = 8,
  CS_STEP_LSTM_GRAD = 9,
  CS_STEP_SIMPLE_RNN = 10, /* SimpleRNN's whole forward loop: out, h0, U (address, row stride each), then T */
  CS_STEP_LSTM_LOOP = 11,  /* the LSTM's whole forward loop: a, cs (no stride), out, h0, c0, V, F, xh (its step), x, then T */
  CS_STEP_LSTM_GRAD_LOOP = 12, /* its whole backward loop: a, cs (no stride), c0, dout, dh, dc, Uᵀ, then T */
  CS_STEP_GRU_LOOP = 13        /* the GRU's whole forward loop: a, out, h0, [U_z | U_r], U_h, then T */
};
__attribute__((import_module("env"), import_name("cs_host_step"))) void cs_host_step(int kind, int B, int H, const int *args);
#endif

/*
 * C[M,N] (+)= A·B. A's element (i,k) is A[i*sa + k*sk], so A or Aᵀ are read in place
 * (sa = lda, sk = 1 for A; sa = 1, sk = lda for Aᵀ); B is row-major with row stride ldb;
 * C has row stride ldc. accumulate = 0 overwrites C. Register blocks: 4 rows × 8 columns, then × 4.
 */
static inline void cs_matmul(int M, int N, int K, const float *A, int sa, int sk, const float *B, int ldb, float *C, int ldc,
                      int accumulate) {
#ifndef CS_HEAP_MODULE
  if (cs_host_min > 0 && (long)M * N * K >= cs_host_min) {
    cs_host_matmul(M, N, K, A, sa, sk, B, ldb, C, ldc, accumulate);
    return;
  }
#endif
  /* Long reductions (weight gradients over all T·B rows) in chunks, so the panel of B
     read by each register block stays in cache. */
  enum { KC = 128 };
  if (K > 2 * KC) {
    for (int k0 = 0; k0 < K; k0 += KC) {
      int kc = K - k0 < KC ? K - k0 : KC;
      cs_matmul(M, N, kc, A + (long)k0 * sk, sa, sk, B + (long)k0 * ldb, ldb, C, ldc, accumulate || k0 > 0);
    }
    return;
  }
  int i = 0;
  for (; i + 4 <= M; i += 4) {
    const float *a0 = A + (long)i * sa, *a1 = a0 + sa, *a2 = a1 + sa, *a3 = a2 + sa;
    int j = 0;
    for (; j + 8 <= N; j += 8) {
      f4 c00 = f4s(0), c01 = f4s(0), c10 = f4s(0), c11 = f4s(0), c20 = f4s(0), c21 = f4s(0), c30 = f4s(0), c31 = f4s(0);
      const float *b = B + j;
      for (int k = 0; k < K; k++, b += ldb) {
        f4 b0 = f4ld(b), b1 = f4ld(b + 4);
        long ko = (long)k * sk;
        f4 x0 = f4s(a0[ko]), x1 = f4s(a1[ko]), x2 = f4s(a2[ko]), x3 = f4s(a3[ko]);
        c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(x0, b0)); c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(x0, b1));
        c10 = wasm_f32x4_add(c10, wasm_f32x4_mul(x1, b0)); c11 = wasm_f32x4_add(c11, wasm_f32x4_mul(x1, b1));
        c20 = wasm_f32x4_add(c20, wasm_f32x4_mul(x2, b0)); c21 = wasm_f32x4_add(c21, wasm_f32x4_mul(x2, b1));
        c30 = wasm_f32x4_add(c30, wasm_f32x4_mul(x3, b0)); c31 = wasm_f32x4_add(c31, wasm_f32x4_mul(x3, b1));
      }
      float *c = C + (long)i * ldc + j;
      if (accumulate) {
        c00 = wasm_f32x4_add(c00, f4ld(c)); c01 = wasm_f32x4_add(c01, f4ld(c + 4)); c += ldc;
        c10 = wasm_f32x4_add(c10, f4ld(c)); c11 = wasm_f32x4_add(c11, f4ld(c + 4)); c += ldc;
        c20 = wasm_f32x4_add(c20, f4ld(c)); c21 = wasm_f32x4_add(c21, f4ld(c + 4)); c += ldc;
        c30 = wasm_f32x4_add(c30, f4ld(c)); c31 = wasm_f32x4_add(c31, f4ld(c + 4));
        c = C + (long)i * ldc + j;
      }
      f4st(c, c00); f4st(c + 4, c01); c += ldc;
      f4st(c, c10); f4st(c + 4, c11); c += ldc;
      f4st(c, c20); f4st(c + 4, c21); c += ldc;
      f4st(c, c30); f4st(c + 4, c31);
    }
    /* A 4-column block where 8 do not fit (e.g. N = 276 or 10): scalar columns cost ~4× as much. */
    for (; j + 4 <= N; j += 4) {
      f4 c0 = f4s(0), c1 = f4s(0), c2 = f4s(0), c3 = f4s(0);
      const float *b = B + j;
      for (int k = 0; k < K; k++, b += ldb) {
        f4 b0 = f4ld(b);
        long ko = (long)k * sk;
        c0 = wasm_f32x4_add(c0, wasm_f32x4_mul(f4s(a0[ko]), b0)); c1 = wasm_f32x4_add(c1, wasm_f32x4_mul(f4s(a1[ko]), b0));
        c2 = wasm_f32x4_add(c2, wasm_f32x4_mul(f4s(a2[ko]), b0)); c3 = wasm_f32x4_add(c3, wasm_f32x4_mul(f4s(a3[ko]), b0));
      }
      float *c = C + (long)i * ldc + j;
      if (accumulate) {
        c0 = wasm_f32x4_add(c0, f4ld(c)); c1 = wasm_f32x4_add(c1, f4ld(c + ldc));
        c2 = wasm_f32x4_add(c2, f4ld(c + 2 * ldc)); c3 = wasm_f32x4_add(c3, f4ld(c + 3 * ldc));
      }
      f4st(c, c0); f4st(c + ldc, c1); f4st(c + 2 * ldc, c2); f4st(c + 3 * ldc, c3);
    }
    for (; j < N; j++) {
      float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (int k = 0; k < K; k++) {
        float bk = B[(long)k * ldb + j];
        long ko = (long)k * sk;
        s0 += a0[ko] * bk; s1 += a1[ko] * bk; s2 += a2[ko] * bk; s3 += a3[ko] * bk;
      }
      float *c = C + (long)i * ldc + j;
      if (accumulate) { c[0] += s0; c[ldc] += s1; c[2 * ldc] += s2; c[3 * ldc] += s3; }
      else { c[0] = s0; c[ldc] = s1; c[2 * ldc] = s2; c[3 * ldc] = s3; }
    }
  }
  for (; i < M; i++) {
    const float *a = A + (long)i * sa;
    float *c = C + (long)i * ldc;
    if (!accumulate) cs_zero(c, N);
    for (int k = 0; k < K; k++) {
      float x = a[(long)k * sk];
      const float *b = B + (long)k * ldb;
      int j = 0;
      for (; j + 4 <= N; j += 4) f4st(c + j, wasm_f32x4_add(f4ld(c + j), wasm_f32x4_mul(f4s(x), f4ld(b + j))));
      for (; j < N; j++) c[j] += x * b[j];
    }
  }
}

/*
 * `count` products C_i (+)= A_i·B_i, operand i advanced by i·bsa, i·bsb, i·bsc floats; bsc = 0 sums
 * them all into one C (accumulating after the first). One host call for the lot while products go
 * native, split over the addon's threads; the same sums as `count` cs_matmul calls.
 */
static inline void cs_matmul_batch(int count, int bsa, int bsb, int bsc, int M, int N, int K, const float *A, int sa, int sk,
                                   const float *B, int ldb, float *C, int ldc, int accumulate) {
#ifndef CS_HEAP_MODULE
  if (cs_host_min > 0 && (long)count * M * N * K >= cs_host_min) {
    cs_host_matmul_batch(count, bsa, bsb, bsc, M, N, K, A, sa, sk, B, ldb, C, ldc, accumulate);
    return;
  }
#endif
  for (int i = 0; i < count; i++)
    cs_matmul(M, N, K, A + (long)i * bsa, sa, sk, B + (long)i * bsb, ldb, C + (long)i * bsc, ldc, accumulate || (bsc == 0 && i > 0));
}

/* out[j] += Σ_r x[r, j] over `rows` rows of width n (bias gradients). */
static inline void cs_colsum(float *out, const float *x, int rows, int n) {
  for (int r = 0; r < rows; r++)
    for (int j = 0; j < n; j++) out[j] += x[(long)r * n + j];
}

/* dst[c, r] = src[r, c] for a [rows, cols] matrix. */
static inline void cs_transpose(float *dst, const float *src, int rows, int cols) {
  /* In 16 × 16 tiles from 16 rows up: walking src a row at a time wrote dst a column at a time, each write
     another cache line ([128, 512]: 87 µs, tiled 37). Fewer rows stay as they were (faster there). */
  enum { TILE = 16 };
  int step = rows < TILE ? cols : TILE;
  for (int c0 = 0; c0 < cols; c0 += step)
    for (int r0 = 0; r0 < rows; r0 += TILE) {
      int r1 = r0 + TILE < rows ? r0 + TILE : rows, c1 = c0 + step < cols ? c0 + step : cols;
      for (int r = r0; r < r1; r++)
        for (int c = c0; c < c1; c++) dst[(long)c * rows + r] = src[(long)r * cols + c];
    }
}

/*
 * The input projection of a whole batch-major input x [B, T, F]:
 * xp[t, b, :] = x[b, t, :]·W + bias (W [F, G], bias [G] or 0), written time-major [T, B, G].
 */
static inline void cs_project(int T, int B, int F, int G, const float *x, const float *W, const float *bias, float *xp) {
  /* One product a step (x_t's rows lie T·F apart), so each writes one contiguous [B, G] block of xp. */
  cs_matmul_batch(T, F, 0, B * G, B, G, F, x, T * F, 1, W, G, xp, G, 0);
  if (bias)
    for (long r = 0; r < (long)T * B; r++)
      for (int j = 0; j < G; j++) xp[r * G + j] += bias[j];
}

/*
 * Gradients of cs_project given dxp [T, B, G]: dW (+)= Σ xᵀ·dxp, dbias (+)= Σ dxp (when
 * non-null), dx [B, T, F] = dxp·Wᵀ. work: F·G floats (Wᵀ).
 */
static inline void cs_project_backward(int T, int B, int F, int G, const float *x, const float *W, const float *dxp, float *dx,
                                float *dW, float *dbias, float *work) {
  cs_transpose(work, W, F, G);
  /* dW as one product over all T·B rows, on a time-major copy of x in dx's room (dx is written last): a
     product a sequence read dxp's rows B·G floats apart, all in one L1 set, at a third of the speed. */
  for (int t = 0; t < T; t++)
    for (int b = 0; b < B; b++) cs_copy(dx + ((long)t * B + b) * F, x + ((long)b * T + t) * F, F);
  cs_matmul(F, G, T * B, dx, 1, F, dxp, G, dW, G, 1);
  /* dx one product a step: [B, G] blocks of dxp against Wᵀ, rows T·F apart in dx. */
  cs_matmul_batch(T, B * G, 0, F, B, F, G, dxp, G, 1, work, F, dx, T * F, 0);
  if (dbias) cs_colsum(dbias, dxp, T * B, G);
}

/*
 * Backward tail of a batch-major layer whose pre-activation is x_t W + h_{t−1} U + b:
 * given dz [B, T, G], accumulate dU [H, G] += Σ_t h_{t−1}ᵀ dz_t (plus the h0 row block),
 * dW [F, G] += xᵀ dz, dbias += Σ dz, and write dx [B, T, F] = dz Wᵀ (Wt: Wᵀ [G, F]).
 * out [B, T, H] holds h_t. dz is restored exactly (negated twice) before returning.
 */
static inline void cs_recurrent_backward(int T, int B, int F, int H, int G, const float *x, const float *out,
                                         const float *h0, float *dz, const float *Wt, float *dU, float *dW,
                                         float *dbias, float *dx) {
  long ld = (long)T * H, lz = (long)T * G;
  /* One long product over every consecutive row pair (out row r, dz row r + 1) instead of one
     per sequence (one host call, split over the threads as a whole), then the B − 1 pairs that
     straddle two sequences (h_{T−1} of b with dz_0 of b + 1) taken out again through dz's rows negated. */
  if ((long)B * T > 1) {
    cs_matmul(H, G, B * T - 1, out, 1, H, dz + G, G, dU, G, 1);
    for (int b = 1; b < B; b++)
      for (int j = 0; j < G; j++) dz[b * lz + j] = -dz[b * lz + j];
    if (B > 1) cs_matmul(H, G, B - 1, out + ld - H, 1, (int)ld, dz + lz, (int)lz, dU, G, 1);
    for (int b = 1; b < B; b++)
      for (int j = 0; j < G; j++) dz[b * lz + j] = -dz[b * lz + j];
  }
  cs_matmul(H, G, B, h0, 1, H, dz, (int)lz, dU, G, 1);
  cs_matmul(F, G, B * T, x, 1, F, dz, G, dW, G, 1);
  cs_colsum(dbias, dz, B * T, G);
  cs_matmul(B * T, F, G, dz, G, 1, Wt, F, dx, F, 0);
}

/* Time-major [T, B, k] ⇄ batch-major [B, T, k]. */
static inline void cs_to_batch_major(float *dst, const float *src, int T, int B, int k) {
  for (int t = 0; t < T; t++)
    for (int b = 0; b < B; b++) cs_copy(dst + ((long)b * T + t) * k, src + ((long)t * B + b) * k, k);
}
static inline void cs_to_time_major(float *dst, const float *src, int T, int B, int k) {
  for (int t = 0; t < T; t++)
    for (int b = 0; b < B; b++) cs_copy(dst + ((long)t * B + b) * k, src + ((long)b * T + t) * k, k);
}

#endif
