/*
 * @cellstack/native: cs_matmul for the fused kernels on the CPU's own vector units.
 * The wasm kernels multiply with 128-bit SIMD and separate multiply and add (WebAssembly
 * has no FMA in Node 20): ~45 GFLOP/s here. 256-bit FMA doubles that, and the products are
 * half a fused training step. The kernels call this through one JS import per product
 * (`cs_host_matmul`, see packages/core/src/native.ts), on their own linear memory.
 *
 * C[M,N] (+)= A·B with A's element (i,k) at A[i*sa + k*sk] (A or Aᵀ in place), B row-major
 * with row stride ldb, C with row stride ldc: the contract of cs_matmul in
 * packages/core/kernel/cellstack_kernel.h.
 */
#define NAPI_VERSION 8
#define _GNU_SOURCE
#include <node_api.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define ISA "avx2+fma"
#ifdef __clang__
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
/* Keep B's two vectors in registers: gcc otherwise folds each use into an FMA's memory
   operand, and six loads per two FMAs halve the throughput (measured: 43 vs 87 GFLOP/s). */
#define IN_REGISTER(v) __asm__("" : "+x"(v))
#elif defined(__aarch64__)
#define ISA "neon"
#define IN_REGISTER(v) __asm__("" : "+w"(v))
#endif

#ifdef ISA
typedef float v8 __attribute__((vector_size(32), aligned(4), may_alias));

#define ROWS 6
#define COLS 16

#define bcast(x) ((v8){x, x, x, x, x, x, x, x})

/* R ≤ ROWS rows of C (R constant after inlining, so the accumulators stay in registers). */
static inline __attribute__((always_inline)) void rows(const int R, int N, int K, const float *A, long sa, long sk,
                                                        const float *B, long ldb, float *C, long ldc, int acc) {
  int j = 0;
  for (; j + COLS <= N; j += COLS) {
    v8 c[ROWS][2];
    for (int r = 0; r < R; r++) c[r][0] = c[r][1] = bcast(0.0f);
    const float *b = B + j;
    for (int k = 0; k < K; k++, b += ldb) {
      v8 b0 = *(const v8 *)b, b1 = *(const v8 *)(b + 8);
      IN_REGISTER(b0);
      IN_REGISTER(b1);
      for (int r = 0; r < R; r++) {
        v8 x = bcast(A[r * sa + k * sk]);
        c[r][0] += x * b0;
        c[r][1] += x * b1;
      }
    }
    for (int r = 0; r < R; r++) {
      v8 *out = (v8 *)(C + r * ldc + j);
      if (acc) {
        c[r][0] += out[0];
        c[r][1] += out[1];
      }
      out[0] = c[r][0];
      out[1] = c[r][1];
    }
  }
#if defined(__x86_64__)
  /* 9 to 15 columns left (a dense layer of 10 units, its weight gradient): one pass with the
     second vector masked, so each A element is broadcast once for both (1.6× the 8 + tail passes). */
  if (N - j > 8) {
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(N - j - 8), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    v8 c[ROWS][2];
    for (int r = 0; r < R; r++) c[r][0] = c[r][1] = bcast(0.0f);
    const float *b = B + j;
    for (int k = 0; k < K; k++, b += ldb) {
      v8 b0 = *(const v8 *)b, b1 = (v8)_mm256_maskload_ps(b + 8, mask);
      IN_REGISTER(b0);
      IN_REGISTER(b1);
      for (int r = 0; r < R; r++) {
        v8 x = bcast(A[r * sa + k * sk]);
        c[r][0] += x * b0;
        c[r][1] += x * b1;
      }
    }
    for (int r = 0; r < R; r++) {
      float *out = C + r * ldc + j;
      if (acc) {
        c[r][0] += *(v8 *)out;
        c[r][1] += (v8)_mm256_maskload_ps(out + 8, mask);
      }
      *(v8 *)out = c[r][0];
      _mm256_maskstore_ps(out + 8, mask, (__m256)c[r][1]);
    }
    return;
  }
#endif
  for (; j + 8 <= N; j += 8) {
    v8 c[ROWS];
    for (int r = 0; r < R; r++) c[r] = bcast(0.0f);
    for (int k = 0; k < K; k++) {
      v8 b0 = *(const v8 *)(B + k * ldb + j);
      for (int r = 0; r < R; r++) c[r] += bcast(A[r * sa + k * sk]) * b0;
    }
    for (int r = 0; r < R; r++) {
      v8 *out = (v8 *)(C + r * ldc + j);
      if (acc) c[r] += *out;
      *out = c[r];
    }
  }
#if defined(__x86_64__)
  /* The last N % 8 columns through masked loads and stores (a dense layer of 10 units would
     otherwise do a fifth of its work in scalar code, ~2× the rest's time). */
  if (j < N) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(N - j), lanes);
    v8 c[ROWS];
    for (int r = 0; r < R; r++) c[r] = bcast(0.0f);
    for (int k = 0; k < K; k++) {
      v8 b0 = (v8)_mm256_maskload_ps(B + k * ldb + j, mask);
      for (int r = 0; r < R; r++) c[r] += bcast(A[r * sa + k * sk]) * b0;
    }
    for (int r = 0; r < R; r++) {
      float *out = C + r * ldc + j;
      if (acc) c[r] += (v8)_mm256_maskload_ps(out, mask);
      _mm256_maskstore_ps(out, mask, (__m256)c[r]);
    }
    return;
  }
#endif
  for (; j < N; j++) {
    float s[ROWS] = {0};
    for (int k = 0; k < K; k++)
      for (int r = 0; r < R; r++) s[r] += A[r * sa + k * sk] * B[k * ldb + j];
    for (int r = 0; r < R; r++) C[r * ldc + j] = acc ? C[r * ldc + j] + s[r] : s[r];
  }
}

/* Every row block of A against b (one panel of B, or all of it: n columns, row stride lb) into C's first n columns. */
static void row_blocks(int M, int n, int K, const float *A, long sa, long sk, const float *b, long lb, float *C, long ldc, int acc) {
  int i = 0;
  for (; i + ROWS <= M; i += ROWS) rows(ROWS, n, K, A + i * sa, sa, sk, b, lb, C + i * ldc, ldc, acc);
  const float *a = A + i * sa;
  float *c = C + i * ldc;
  switch (M - i) {
    case 5: rows(5, n, K, a, sa, sk, b, lb, c, ldc, acc); break;
    case 4: rows(4, n, K, a, sa, sk, b, lb, c, ldc, acc); break;
    case 3: rows(3, n, K, a, sa, sk, b, lb, c, ldc, acc); break;
    case 2: rows(2, n, K, a, sa, sk, b, lb, c, ldc, acc); break;
    case 1: rows(1, n, K, a, sa, sk, b, lb, c, ldc, acc); break;
  }
}

/* B's first n columns, K rows ldb floats apart, at dst as 16-column panels one after another: panel p's K rows of 16
   floats at p·K·16 (the last panel's unused columns never written). Row by row, so B is read in runs of n floats. */
static void pack_block(int n, int K, const float *B, long ldb, float *dst) {
  for (int k = 0; k < K; k++) {
    const float *b = B + k * ldb;
    float *d = dst + (long)k * COLS;
    int j = 0;
    for (; j + COLS <= n; j += COLS, d += (long)K * COLS) __builtin_memcpy(d, b + j, sizeof(float) * COLS);
    if (j < n) __builtin_memcpy(d, b + j, sizeof(float) * (size_t)(n - j));
  }
}

/* Long reductions (K > KC + KC / 2) run in chunks of KC, so the COLS-wide panel of B stays in L1; NC columns of B are
   packed at a time. */
enum { KC = 256, NC = 128 };

static void matmul(int M, int N, int K, const float *A, long sa, long sk, const float *B, long ldb, float *C, long ldc,
                          int acc) {
  if (K > KC + KC / 2) {
    for (int k0 = 0; k0 < K; k0 += KC) {
      int kc = K - k0 < KC ? K - k0 : KC;
      matmul(M, N, kc, A + k0 * sk, sa, sk, B + k0 * ldb, ldb, C, ldc, acc || k0 > 0);
    }
    return;
  }
  if (K == 0) {
    for (int i = 0; i < M && !acc; i++) __builtin_memset(C + i * ldc, 0, sizeof(float) * (size_t)N);
    return;
  }
  /* With a long reduction and many rows, one 16-column panel of B (K × 16) at a time under every
     row block, copied first into one contiguous block so it stays in L1: in place, B's rows ldb floats
     apart (2048 at workload L) shared a handful of L1 sets, and row block by row block streamed the
     panel from L2 or L3 for every 6 rows ([1024, 1000]·[1000, 2048]: 1.4× faster packed). NC columns
     are packed at once, row by row: a panel at a time read 64 bytes a row, ldb floats apart, and where B
     came from memory those reads waited on it (W1's LSTM weight gradient, [139, 3200]·[3200, 512] with
     B 6.5 MB, and operands 16 bytes off a cache line: 66 → 85 GFLOP/s on one thread). Otherwise rows
     first: with a short reduction (the input projections, K = F) C's rows are written whole, and a
     recurrent step's few rows ran ~5 % slower panel-first (W1 LSTM steps, one thread: panel-first for
     K ≥ 64 and M ≥ 64 ~1.1× both rows-first and panel-first for every K ≥ 64). Each element's sum is the
     same either way. */
  if (K < 64 || M < 64) {
    row_blocks(M, N, K, A, sa, sk, B, ldb, C, ldc, acc);
    return;
  }
  static _Thread_local float block[(KC + KC / 2) * NC] __attribute__((aligned(64)));
  for (int j0 = 0; j0 < N; j0 += NC) {
    int n0 = N - j0 < NC ? N - j0 : NC;
    pack_block(n0, K, B + j0, ldb, block);
    for (int j = 0; j < n0; j += COLS)
      row_blocks(M, n0 - j < COLS ? n0 - j : COLS, K, A, sa, sk, block + (long)j * K, COLS, C + j0 + j, ldc, acc);
  }
}

/*
 * B packed once for many products against it (a recurrent loop's U, used every step): its 16-column panels one
 * after another, panel p's K rows of 16 floats at p·K·16 (the last panel's unused columns never read). In place, B's
 * rows lie ldb floats apart (512 at W1's LSTM): a panel's rows then share two of L1's 64 sets, and every 6-row
 * block read the panel from L2 again. NULL when there is no memory for it (the caller multiplies in place).
 */
static float *pack_panels(int N, int K, const float *B, long ldb) {
  int panels = (N + COLS - 1) / COLS;
  size_t bytes = ((size_t)panels * K * COLS * sizeof(float) + 63) & ~(size_t)63;
  float *Bp = bytes ? aligned_alloc(64, bytes) : NULL;
  if (Bp) pack_block(N, K, B, ldb, Bp);
  return Bp;
}

/* matmul against pack_panels' B (panels ps floats apart): panel by panel under every row block, each element's sum as matmul's. */
static void matmul_packed(int M, int N, int K, const float *A, long sa, long sk, const float *Bp, long ps, float *C, long ldc, int acc) {
  if (K > KC + KC / 2) {
    for (int k0 = 0; k0 < K; k0 += KC) {
      int kc = K - k0 < KC ? K - k0 : KC;
      matmul_packed(M, N, kc, A + k0 * sk, sa, sk, Bp + (long)k0 * COLS, ps, C, ldc, acc || k0 > 0);
    }
    return;
  }
  for (int j = 0; j < N; j += COLS) row_blocks(M, N - j < COLS ? N - j : COLS, K, A, sa, sk, Bp + j / COLS * ps, COLS, C + j, ldc, acc);
}

/*
 * The LSTM's and GRU's per-step gate math (kernel/lstm.c and gru.c in @cellstack/core, which
 * call it through `cs_host_gates` once their products go native): 8 lanes and FMA where wasm
 * has 4 and none, 16 with AVX-512 (lanes.h, built once for each width).
 */
typedef int vi8 __attribute__((vector_size(32), aligned(4), may_alias));

static inline v8 sel(vi8 m, v8 a, v8 b) { return (v8)(((vi8)a & m) | ((vi8)b & ~m)); }

#if defined(__x86_64__)
/* One instruction each where sel and the rounding constant take four (the gates ran ~12 % faster).
   max/min return their second operand when either is NaN, so a NaN input still comes out NaN. */
static inline v8 clamp8(v8 x, float lo, float hi) { return (v8)_mm256_min_ps((__m256)bcast(hi), _mm256_max_ps((__m256)bcast(lo), (__m256)x)); }
static inline v8 round8(v8 x) { return (v8)_mm256_round_ps((__m256)x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline v8 blend8(vi8 m, v8 a, v8 b) { return (v8)_mm256_blendv_ps((__m256)b, (__m256)a, (__m256)m); }
#else
static inline v8 clamp8(v8 x, float lo, float hi) { return sel(x > bcast(hi), bcast(hi), sel(x < bcast(lo), bcast(lo), x)); }
static inline v8 round8(v8 x) { return (x + bcast(12582912.0f)) - bcast(12582912.0f); } /* 1.5·2^23: rounds to the nearest integer */
static inline v8 blend8(vi8 m, v8 a, v8 b) { return sel(m, a, b); }
#endif

/* lanes.h's names at the width LANES the includer sets: W(exp) is exp8 or exp16, VEC v8 or v16, … */
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define W(name) CAT(name, LANES)
#define VEC CAT(v, LANES)
#define VECI CAT(vi, LANES)
#define VSET CAT(bcast, LANES)
#define bcast8 bcast
#define LANES 8
#include "lanes.h"
#undef LANES

#if defined(__x86_64__) && defined(__clang__)
#pragma clang attribute pop
#elif defined(__x86_64__)
#pragma GCC pop_options
#endif

#if defined(__x86_64__)
/*
 * The same elementwise math over 16 lanes (AVX-512; cells.c builds step-rows.h alike): W1's LSTM loops on
 * 2 threads here, forward 3.44 → 3.22 ms, backward 3.02 → 2.87. clamp, round and blend are the 512-bit
 * forms of the 8-lane ones (the same results, NaN included).
 */
/* Around each 16-lane build (here and in cells.c): its functions compiled for AVX-512. */
#ifdef __clang__
#define WIDE_BEGIN _Pragma("clang attribute push(__attribute__((target(\"avx512f,avx2,fma\"))), apply_to = function)")
#define WIDE_END _Pragma("clang attribute pop")
#else
#define WIDE_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"avx512f,avx2,fma\")")
#define WIDE_END _Pragma("GCC pop_options")
#endif
#define WIDE 1
WIDE_BEGIN
typedef float v16 __attribute__((vector_size(64), aligned(4), may_alias));
typedef int vi16 __attribute__((vector_size(64), aligned(4), may_alias));
static inline v16 bcast16(float x) { return (v16)_mm512_set1_ps(x); }
static inline v16 clamp16(v16 x, float lo, float hi) { return (v16)_mm512_min_ps(_mm512_set1_ps(hi), _mm512_max_ps(_mm512_set1_ps(lo), (__m512)x)); }
static inline v16 round16(v16 x) { return (v16)_mm512_roundscale_ps((__m512)x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline v16 blend16(vi16 m, v16 a, v16 b) { return (v16)(((vi16)a & m) | ((vi16)b & ~m)); }
#define LANES 16
#include "lanes.h"
#undef LANES
WIDE_END
#endif

/*
 * Whether the step math runs 16 lanes wide (setWide; AT_WIDTH(name) calls name16 or name8): by default
 * where AVX-512 is there and does not slow the core down — AMD (Zen 4 on), Intel from Ice Lake (IFMA); on
 * Skylake-SP and Cascade Lake, 512-bit FMA lowers the clock for the products that follow, so 8 lanes stay.
 */
static int wide;
static int wide_supported(void) {
#ifdef WIDE
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
#else
  return 0;
#endif
}
static int wide_default(void) {
#ifdef WIDE
  return wide_supported() && (__builtin_cpu_is("amd") || __builtin_cpu_supports("avx512ifma"));
#else
  return 0;
#endif
}
#ifdef WIDE
#define AT_WIDTH(name) (wide ? name##16 : name##8)
#else
#define AT_WIDTH(name) name##8
#endif

/*
 * A small persistent thread pool for the larger products. C is cut into chunks of whole
 * 16-column panels (or 6-row blocks when C is narrow), so every element is computed by the
 * same code in the same order as on one thread: results are bit-identical whatever the
 * thread count. The caller and the workers claim chunks until none is left, so a worker the
 * OS has not scheduled yet costs nothing but its share: the caller does the rest. Workers
 * spin briefly for the next product (a recurrent step issues them microseconds apart), then sleep.
 */
#define MAX_THREADS 64
/* Multiply-adds per thread below which a product uses fewer threads (~2.5 µs at 100 GFLOP/s). */
#define PART_MIN (1L << 18)
#define CHUNKS_PER_THREAD 4
#define SPIN_NS 100000L
/* How long workers woken by `wake()` spin for the job it announces (a fused layer's input copies come first). */
#define WAKE_SPIN_NS 400000L
/* Gate elements (rows × units) per thread below which the LSTM step's gate math uses fewer threads (~3 µs). */
#define GATES_PART_MIN 1024L

/* Which gate math a `gates` call runs (the `kind` argument; cs_host_gates in kernel/cellstack_kernel.h). */
enum { GATES_LSTM = 0, GATES_GRU_RESET = 1, GATES_GRU_BLEND = 2, GATES_TANH = 3 };

/* A product, or (gates ≥ 0) a recurrent step's gate math over M rows of the batch, N units each. */
typedef struct {
  int M, N, K, acc, by_cols, per_chunk, gates;
  const float *A, *B;
  float *C;
  long sa, sk, ldb, ldc;
  float *z, *c, *h;
  const float *prev;
  long ldz, ldp;
  /* Or (rows set) rows [from, to) of another step's math (cells.c) on ctx. */
  void (*rows)(const void *ctx, int from, int to);
  const void *ctx;
} Job;

static void gate_rows(const Job *j, int from, int to) {
  switch (j->gates) {
    case GATES_LSTM: AT_WIDTH(lstm_rows)(from, to, j->N, j->z, j->ldz, j->prev, j->ldp, j->c, j->h, j->ldc); break;
    case GATES_GRU_RESET: AT_WIDTH(gru_reset_rows)(from, to, j->N, j->z, j->ldz, j->prev, j->ldp, j->h, j->ldc); break;
    case GATES_GRU_BLEND: AT_WIDTH(gru_blend_rows)(from, to, j->N, j->z, j->ldz, j->prev, j->ldp, j->h, j->ldc); break;
    case GATES_TANH: AT_WIDTH(tanh_rows)(from, to, j->N, j->z, j->ldz); break;
  }
}

/* The claim word: generation << 32 | chunks << 16 | next chunk. Claiming by compare-and-swap on
   it means a worker that wakes late for one product can never take a chunk of the next. */
#define GEN(c) ((c) >> 32)
#define CHUNKS(c) ((int)((c) >> 16 & 0xffff))
#define NEXT(c) ((int)((c) & 0xffff))

static struct {
  pthread_mutex_t submit; /* one product at a time (worker_threads may share the pool) */
  pthread_mutex_t m;
  pthread_cond_t wake, done;
  pthread_t tid[MAX_THREADS];
  int started, envs;
  atomic_int wanted, stop;
  atomic_ulong hints; /* wake() calls so far */
  Job job;
  atomic_ulong claim;
  atomic_int finished;   /* chunks of the current product done */
  atomic_long threaded;  /* products split into chunks */
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, .wanted = 1};

static long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000L + t.tv_nsec;
}

static inline void relax(void) {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* Units [u0, u1) of C = A·B (16-column panels when by_cols, else 6-row blocks; the last one may be partial). */
static void matmul_units(int by_cols, int u0, int u1, int M, int N, int K, const float *A, long sa, long sk, const float *B,
                         long ldb, float *C, long ldc, int acc) {
  int step = by_cols ? COLS : ROWS, extent = by_cols ? N : M;
  int lo = u0 * step, hi = u1 * step < extent ? u1 * step : extent;
  if (by_cols) matmul(M, hi - lo, K, A, sa, sk, B + lo, ldb, C + lo, ldc, acc);
  else matmul(hi - lo, N, K, A + lo * sa, sa, sk, B, ldb, C + (long)lo * ldc, ldc, acc);
}

static void run_chunk(const Job *j, int chunk) {
  if (j->gates >= 0 || j->rows) {
    int from = chunk * j->per_chunk, to = from + j->per_chunk < j->M ? from + j->per_chunk : j->M;
    if (j->rows) j->rows(j->ctx, from, to);
    else gate_rows(j, from, to);
    return;
  }
  int from = chunk * j->per_chunk;
  matmul_units(j->by_cols, from, from + j->per_chunk, j->M, j->N, j->K, j->A, j->sa, j->sk, j->B, j->ldb, j->C, j->ldc, j->acc);
}

/* Claim and run chunks of generation `gen` until none is left; returns how many this thread ran. */
static int drain(unsigned long gen) {
  int ran = 0;
  unsigned long c = atomic_load_explicit(&pool.claim, memory_order_acquire);
  while (GEN(c) == gen && NEXT(c) < CHUNKS(c)) {
    if (!atomic_compare_exchange_weak_explicit(&pool.claim, &c, c + 1, memory_order_acq_rel, memory_order_acquire)) continue;
    run_chunk(&pool.job, NEXT(c));
    ran++;
    c = atomic_load_explicit(&pool.claim, memory_order_acquire);
  }
  return ran;
}

static void *worker(void *arg) {
  unsigned long seen = (uintptr_t)arg; /* the generation current when it was created */
  long spin = SPIN_NS;
  for (;;) {
    long until = now_ns() + spin;
    unsigned long hint = atomic_load(&pool.hints);
    spin = SPIN_NS;
    for (int i = 0; GEN(atomic_load_explicit(&pool.claim, memory_order_acquire)) == seen && !atomic_load(&pool.stop); i++) {
      relax();
      if ((i & 63) == 63 && now_ns() > until) {
        pthread_mutex_lock(&pool.m);
        while (GEN(atomic_load(&pool.claim)) == seen && atomic_load(&pool.hints) == hint && !atomic_load(&pool.stop))
          pthread_cond_wait(&pool.wake, &pool.m);
        pthread_mutex_unlock(&pool.m);
        if (atomic_load(&pool.hints) != hint) spin = WAKE_SPIN_NS; /* woken ahead of a job: wait for it awake */
        break;
      }
    }
    if (atomic_load(&pool.stop)) return NULL;
    unsigned long c = atomic_load_explicit(&pool.claim, memory_order_acquire);
    seen = GEN(c);
    int ran = drain(seen);
    if (ran && atomic_fetch_add(&pool.finished, ran) + ran == CHUNKS(c)) {
      pthread_mutex_lock(&pool.m);
      pthread_cond_signal(&pool.done);
      pthread_mutex_unlock(&pool.m);
    }
  }
}

/* Start workers up to `n` - 1 (signals blocked in them: signals stay with Node's threads). */
static void grow(int n) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  uintptr_t generation = GEN(atomic_load(&pool.claim));
  while (pool.started < n - 1 && pthread_create(&pool.tid[pool.started], NULL, worker, (void *)generation) == 0) pool.started++;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void stop_pool(void) {
  pthread_mutex_lock(&pool.m);
  atomic_store(&pool.stop, 1);
  pthread_cond_broadcast(&pool.wake);
  pthread_mutex_unlock(&pool.m);
  for (int i = 0; i < pool.started; i++) pthread_join(pool.tid[i], NULL);
  pool.started = 0;
  atomic_store(&pool.stop, 0);
}

static void run_parallel(int threads, int units, int most);

/*
 * How a product on `threads` threads splits C: into 16-column panels (*by_cols set) or 6-row blocks;
 * returns how many. Columns when there are enough: each thread then reads a slice of B. But a short
 * reduction (K < 64, where `matmul` writes C's rows whole) splits rows when there are enough of them:
 * its time is C's writes, and column panels had each thread write every row in 64-byte pieces, a row
 * apart ([3200, 10]·[10, 128], the dense head's input gradient: 180 µs on two threads, 85 on one).
 */
static int split_units(int M, int N, int K, int threads, int *by_cols) {
  int panels = (N + COLS - 1) / COLS, blocks = (M + ROWS - 1) / ROWS;
  *by_cols = !(K < 64 && blocks >= threads * CHUNKS_PER_THREAD) && (panels >= threads || panels >= blocks);
  return *by_cols ? panels : blocks;
}

/*
 * A long reduction on the threads: C's units (panels or row blocks) in one contiguous group a thread, each group's
 * product in K chunks of KC (the chunks `matmul` makes on one thread, so every element's sum is the same), claimed
 * chunk by chunk (every group's first, then every group's second, …) as the loops claim their steps. Chunks of whole
 * K over 4 panels made each thread read all of A once a chunk: the weight gradient's A, [3200, 139] at W1, came
 * from memory 4 times a thread and the product ran ~12 % slower on two threads. A late thread's first chunks are
 * taken by the others, as before. Only where a thread's chunk is itself worth a part (PART_MIN): the dense head's
 * weight gradient, [3200, 128]ᵀ·[3200, 10], waited on its 4 µs chunks and ran ~10 % slower so.
 */
typedef struct {
  int M, N, K, acc, by_cols, groups, units;
  const float *A, *B;
  float *C;
  long sa, sk, ldb, ldc;
  atomic_int done[MAX_THREADS]; /* per group, its chunks finished */
} Reduction;

static void reduction_parts(const void *ctx, int from, int to) {
  Reduction *r = (Reduction *)ctx;
  for (int part = from; part < to; part++) {
    int g = part % r->groups, chunk = part / r->groups, k0 = chunk * KC, kc = r->K - k0 < KC ? r->K - k0 : KC;
    while (atomic_load_explicit(&r->done[g], memory_order_acquire) < chunk) relax();
    matmul_units(r->by_cols, r->units * g / r->groups, r->units * (g + 1) / r->groups, r->M, r->N, kc, r->A + k0 * r->sk, r->sa,
                 r->sk, r->B + k0 * r->ldb, r->ldb, r->C, r->ldc, r->acc || k0 > 0);
    atomic_store_explicit(&r->done[g], chunk + 1, memory_order_release);
  }
}

/* The product on as many threads as its size repays, up to pool.wanted. */
static void parallel_matmul(int M, int N, int K, const float *A, long sa, long sk, const float *B, long ldb, float *C, long ldc, int acc) {
  /* A narrow C with A transposed in place (a dense head's weight gradient, [3200, 128]ᵀ·[3200, 10]) as Cᵀ = Bᵀ·Aᵀ, whose
     B operand is A's rows in place: C's 10 columns filled 10 of a panel's 16 lanes, Cᵀ's 128 fill every lane (1.85× faster
     on one thread). Each element's sum is the same products in the same order (Cᵀ starts as C when accumulating). */
  if (N < COLS && sa == 1 && sk > 1 && M >= 2 * COLS && K >= 64) {
    float *Ct = malloc(sizeof(float) * (size_t)N * (size_t)M);
    if (Ct) {
      for (int i = 0; i < M && acc; i++)
        for (int j = 0; j < N; j++) Ct[(long)j * M + i] = C[i * ldc + j];
      parallel_matmul(N, M, K, B, 1, ldb, A, sk, Ct, M, acc);
      for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) C[i * ldc + j] = Ct[(long)j * M + i];
      free(Ct);
      return;
    }
  }
  long work = (long)M * N * (K > 0 ? K : 1);
  int threads = atomic_load(&pool.wanted);
  if (work / PART_MIN < threads) threads = (int)(work / PART_MIN);
  int by_cols, units = split_units(M, N, K, threads, &by_cols);
  if (units < threads) threads = units;
  if (threads < 2 || pthread_mutex_trylock(&pool.submit) != 0) {
    matmul(M, N, K, A, sa, sk, B, ldb, C, ldc, acc);
    return;
  }
  if (K > KC + KC / 2 && (long)M * N * KC / threads >= PART_MIN) {
    Reduction r = {M, N, K, acc, by_cols, threads, units, A, B, C, sa, sk, ldb, ldc, {0}};
    int parts = threads * ((K + KC - 1) / KC);
    pool.job = (Job){parts, 0, 0, 0, 0, 0, -1, NULL, NULL, NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL, 0, 0, reduction_parts, &r};
    run_parallel(threads, parts, parts);
    return;
  }
  pool.job = (Job){M, N, K, acc, by_cols, 0, -1, A, B, C, sa, sk, ldb, ldc, NULL, NULL, NULL, NULL, 0, 0, NULL, NULL};
  run_parallel(threads, units, threads * CHUNKS_PER_THREAD);
}

/* A step's gate math over B rows of H units, split by rows like a product. */
static void parallel_gates(int kind, int B, int H, float *z, long ldz, const float *prev, long ldp, float *c, float *h, long ldh) {
  Job job = {B, H, 0, 0, 0, 0, kind, NULL, NULL, NULL, 0, 0, 0, ldh, z, c, h, prev, ldz, ldp, NULL, NULL};
  int threads = atomic_load(&pool.wanted);
  if ((long)B * H / GATES_PART_MIN < threads) threads = (int)((long)B * H / GATES_PART_MIN);
  if (B < threads) threads = B;
  if (threads < 2 || pthread_mutex_trylock(&pool.submit) != 0) {
    gate_rows(&job, 0, B);
    return;
  }
  pool.job = job;
  run_parallel(threads, B, threads * CHUNKS_PER_THREAD);
}

/* `rows` over B batch rows of H units on ctx, split by rows like the gate math. */
static void parallel_rows(void (*rows)(const void *, int, int), const void *ctx, int B, int H) {
  Job job = {B, H, 0, 0, 0, 0, -1, NULL, NULL, NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL, 0, 0, rows, ctx};
  int threads = atomic_load(&pool.wanted);
  if ((long)B * H / GATES_PART_MIN < threads) threads = (int)((long)B * H / GATES_PART_MIN);
  if (B < threads) threads = B;
  if (threads < 2 || pthread_mutex_trylock(&pool.submit) != 0) {
    rows(ctx, 0, B);
    return;
  }
  pool.job = job;
  run_parallel(threads, B, threads * CHUNKS_PER_THREAD);
}

/*
 * `count` products C_i (+)= A_i·B_i, operand i at i·bsa, i·bsb, i·bsc floats on (bsc = 0: all into one C,
 * in order of i). A layer's input projection over its batch's sequences is one call of B products
 * (x [B, T, F] against activations [T, B, G]), where B calls each paid a host call and ran on one thread.
 */
typedef struct {
  int count, M, N, K, acc, by_cols;
  const float *A, *B;
  float *C;
  long sa, sk, ldb, ldc, bsa, bsb, bsc;
} Batch;

/* Products [from, to), each whole: separate Cs, so threads never share an element. */
static void batch_items(const void *ctx, int from, int to) {
  const Batch *b = ctx;
  for (int i = from; i < to; i++)
    matmul(b->M, b->N, b->K, b->A + i * b->bsa, b->sa, b->sk, b->B + i * b->bsb, b->ldb, b->C + i * b->bsc, b->ldc, b->acc);
}

/* Panels (or row blocks) [from, to) of every product in order of i: each element's sum is the one-thread order. */
static void batch_slices(const void *ctx, int from, int to) {
  const Batch *b = ctx;
  for (int i = 0; i < b->count; i++)
    matmul_units(b->by_cols, from, to, b->M, b->N, b->K, b->A + i * b->bsa, b->sa, b->sk, b->B + i * b->bsb, b->ldb,
                 b->C + i * b->bsc, b->ldc, b->acc || (b->bsc == 0 && i > 0));
}

static void parallel_batch(Batch *b) {
  long work = (long)b->count * b->M * b->N * (b->K > 0 ? b->K : 1);
  int threads = atomic_load(&pool.wanted);
  if (work / PART_MIN < threads) threads = (int)(work / PART_MIN);
  int units;
  void (*fn)(const void *, int, int);
  if (b->bsc != 0 && b->count >= threads) {
    units = b->count;
    fn = batch_items;
  } else {
    units = split_units(b->M, b->N, b->K, threads, &b->by_cols);
    fn = batch_slices;
  }
  if (units < threads) threads = units;
  if (threads < 2 || pthread_mutex_trylock(&pool.submit) != 0) {
    fn(b, 0, units);
    return;
  }
  pool.job = (Job){units, 0, 0, 0, 0, 0, -1, NULL, NULL, NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL, 0, 0, fn, b};
  run_parallel(threads, units, threads * CHUNKS_PER_THREAD);
}

/*
 * Run pool.job (its per_chunk still unset) as at most `most` chunks of `units` on up to `threads`; pool.submit is held
 * and released here.
 */
static void run_parallel(int threads, int units, int most) {
  if (pool.started < threads - 1) grow(threads);
  int chunks = most < units ? most : units;
  int per_chunk = (units + chunks - 1) / chunks;
  chunks = (units + per_chunk - 1) / per_chunk;
  pool.job.per_chunk = per_chunk;
  atomic_store(&pool.finished, 0);
  unsigned long gen = GEN(atomic_load(&pool.claim)) + 1;
  atomic_store_explicit(&pool.claim, gen << 32 | (unsigned long)chunks << 16, memory_order_release);
  pthread_mutex_lock(&pool.m);
  pthread_cond_broadcast(&pool.wake);
  pthread_mutex_unlock(&pool.m);
  atomic_fetch_add(&pool.finished, drain(gen));
  long until = now_ns() + SPIN_NS;
  for (int i = 0; atomic_load_explicit(&pool.finished, memory_order_acquire) < chunks; i++) {
    relax();
    if ((i & 63) == 63 && now_ns() > until) {
      pthread_mutex_lock(&pool.m);
      while (atomic_load(&pool.finished) < chunks) pthread_cond_wait(&pool.done, &pool.m);
      pthread_mutex_unlock(&pool.m);
      break;
    }
  }
  atomic_fetch_add(&pool.threaded, 1);
  pthread_mutex_unlock(&pool.submit);
}

static int supported(void) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return 1;
#endif
}
#endif

/* Highest byte (exclusive) that an operand of `rows` × `cols` elements at `at` with strides rs, cs touches. */
static int64_t extent(int64_t at, int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  return rows == 0 || cols == 0 ? at : at + 4 * ((rows - 1) * rs + (cols - 1) * cs + 1);
}

static napi_value fail(napi_env env, const char *message) {
  napi_throw_range_error(env, "ERR_CELLSTACK_NATIVE", message);
  return NULL;
}

/*
 * The exports' common prologue, name(memory: ArrayBuffer, n int32 numbers[, second: ArrayBuffer]): fills base,
 * length and v[0..n), and where `second` is non-NULL, *second and *second_length from an optional last
 * ArrayBuffer (else NULL, 0); or throws naming `name` and what the numbers are, and returns false.
 */
static bool args_with(napi_env env, napi_callback_info info, const char *name, const char *numbers, size_t n,
                      void **base, size_t *length, int32_t *v, void **second, size_t *second_length) {
  size_t argc = n + 2;
  napi_value argv[17];
  char message[160];
  if (second) *second = NULL, *second_length = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || (argc != n + 1 && !(second && argc == n + 2))) {
    snprintf(message, sizeof message, second ? "%s takes %zu or %zu arguments" : "%s takes %zu arguments", name, n + 1, n + 2);
  } else if (napi_get_arraybuffer_info(env, argv[0], base, length) != napi_ok) {
    snprintf(message, sizeof message, "%s: the first argument must be an ArrayBuffer", name);
  } else if (argc == n + 2 && napi_get_arraybuffer_info(env, argv[n + 1], second, second_length) != napi_ok) {
    snprintf(message, sizeof message, "%s: the last argument must be an ArrayBuffer", name);
  } else {
    for (size_t i = 0; i < n; i++)
      if (napi_get_value_int32(env, argv[i + 1], &v[i]) != napi_ok) {
        snprintf(message, sizeof message, "%s: %s must be numbers", name, numbers);
        fail(env, message);
        return false;
      }
    return true;
  }
  fail(env, message);
  return false;
}

static bool int_args(napi_env env, napi_callback_info info, const char *name, const char *numbers, size_t n, void **base,
                     size_t *length, int32_t *v) {
  return args_with(env, info, name, numbers, n, base, length, v, NULL, NULL);
}

/* matmul(memory: ArrayBuffer, M, N, K, A, sa, sk, B, ldb, C, ldc, accumulate): A, B, C are byte offsets. */
static napi_value Matmul(napi_env env, napi_callback_info info) {
  void *base;
  size_t length;
  int32_t v[11];
  if (!int_args(env, info, "matmul", "sizes, offsets and strides", 11, &base, &length, v)) return NULL;
  int32_t M = v[0], N = v[1], K = v[2], sa = v[4], sk = v[5], ldb = v[7], ldc = v[9];
  uint32_t A = (uint32_t)v[3], B = (uint32_t)v[6], C = (uint32_t)v[8];
  if (M < 0 || N < 0 || K < 0 || sa < 0 || sk < 0 || ldb < 0 || ldc < 0 || (A | B | C) & 3)
    return fail(env, "matmul: negative size or stride, or an offset not a multiple of 4");
  if (extent(A, M, K, sa, sk) > (int64_t)length || extent(B, K, N, ldb, 1) > (int64_t)length || extent(C, M, N, ldc, 1) > (int64_t)length)
    return fail(env, "matmul: an operand lies outside the buffer");
#ifdef ISA
  char *m = base;
  parallel_matmul(M, N, K, (const float *)(m + A), sa, sk, (const float *)(m + B), ldb, (float *)(m + C), ldc, v[10]);
#endif
  return NULL;
}

/*
 * matmulBatch(memory, count, bsa, bsb, bsc, M, N, K, A, sa, sk, B, ldb, C, ldc, accumulate): `count` products
 * as matmul's, operand i advanced by i·bsa, i·bsb, i·bsc floats; bsc = 0 sums them all into one C. Bit-identical
 * to the `count` matmul calls (with accumulate after the first when bsc = 0), for every thread count.
 */
static napi_value MatmulBatch(napi_env env, napi_callback_info info) {
  void *base;
  size_t length;
  int32_t v[15];
  if (!int_args(env, info, "matmulBatch", "counts, sizes, offsets and strides", 15, &base, &length, v)) return NULL;
  int32_t count = v[0], bsa = v[1], bsb = v[2], bsc = v[3], M = v[4], N = v[5], K = v[6], sa = v[8], sk = v[9], ldb = v[11], ldc = v[13];
  uint32_t A = (uint32_t)v[7], B = (uint32_t)v[10], C = (uint32_t)v[12];
  if (count < 0 || bsa < 0 || bsb < 0 || bsc < 0 || M < 0 || N < 0 || K < 0 || sa < 0 || sk < 0 || ldb < 0 || ldc < 0 || (A | B | C) & 3)
    return fail(env, "matmulBatch: negative count, size or stride, or an offset not a multiple of 4");
  int64_t last = count > 0 ? count - 1 : 0; /* strides are non-negative: the last product reaches furthest */
  if (count > 0 && (extent(A + 4 * last * bsa, M, K, sa, sk) > (int64_t)length || extent(B + 4 * last * bsb, K, N, ldb, 1) > (int64_t)length ||
                    extent(C + 4 * last * bsc, M, N, ldc, 1) > (int64_t)length))
    return fail(env, "matmulBatch: an operand lies outside the buffer");
#ifdef ISA
  char *m = base;
  Batch b = {count, M, N, K, v[14], 0, (const float *)(m + A), (const float *)(m + B), (float *)(m + C), sa, sk, ldb, ldc, bsa, bsb, bsc};
  if (count > 0) parallel_batch(&b);
#endif
  return NULL;
}

/*
 * gates(memory, kind, B, H, z, ldz, prev, ldp, c, h, ldh): one recurrent step's gate math over B
 * rows of H units, byte offsets and row strides in floats. kind 0, LSTM: z [B, 4H] pre-activations
 * → activations, prev = c_{t−1}, c = c_t [B, H] (rows H apart), h = h_t. kind 1, GRU reset: z [B, 3H]
 * (its first 2H → sigmoid), prev = h_{t−1}, h = r ∘ h_{t−1}. kind 2, GRU blend: z's last H → tanh,
 * prev = h_{t−1}, h = h_t. kind 3, SimpleRNN: z [B, H] → tanh in place (prev, c, h unused).
 * c is read only by kind 0.
 */
static napi_value Gates(napi_env env, napi_callback_info info) {
  void *base;
  size_t length;
  int32_t v[10];
  if (!int_args(env, info, "gates", "kind, sizes, offsets and strides", 10, &base, &length, v)) return NULL;
  int32_t kind = v[0], B = v[1], H = v[2], ldz = v[4], ldp = v[6], ldh = v[9];
  uint32_t z = (uint32_t)v[3], prev = (uint32_t)v[5], c = (uint32_t)v[7], h = (uint32_t)v[8];
  if (kind < GATES_LSTM || kind > GATES_TANH) return fail(env, "gates: kind must be 0 (LSTM), 1 (GRU reset), 2 (GRU blend) or 3 (tanh)");
  if (B < 0 || H < 0 || ldz < 0 || ldp < 0 || ldh < 0 || (z | prev | c | h) & 3)
    return fail(env, "gates: negative size or stride, or an offset not a multiple of 4");
  int64_t width = (kind == GATES_LSTM ? 4 : kind == GATES_TANH ? 1 : 3) * (int64_t)H;
  if (extent(z, B, width, ldz, 1) > (int64_t)length || (kind != GATES_TANH && extent(prev, B, H, ldp, 1) > (int64_t)length) ||
      (kind == GATES_LSTM && extent(c, B, H, H, 1) > (int64_t)length) || (kind != GATES_TANH && extent(h, B, H, ldh, 1) > (int64_t)length))
    return fail(env, "gates: an operand lies outside the buffer");
#ifdef ISA
  char *m = base;
  parallel_gates(kind, B, H, (float *)(m + z), ldz, (const float *)(m + prev), ldp, (float *)(m + c), (float *)(m + h), ldh);
#endif
  return NULL;
}

#include "cells.c"
#include "trace.c"

#ifdef ISA
/* setThreads(n): the most threads a product may use (1..64; larger n is capped); returns the value set. */
static napi_value SetThreads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg, result;
  int32_t n;
  if (napi_get_cb_info(env, info, &argc, &arg, NULL, NULL) != napi_ok || argc != 1 || napi_get_value_int32(env, arg, &n) != napi_ok || n < 1)
    return fail(env, "setThreads takes one positive integer");
  atomic_store(&pool.wanted, n > MAX_THREADS ? MAX_THREADS : n);
  napi_create_int32(env, atomic_load(&pool.wanted), &result);
  return result;
}

/*
 * setWide(on): the step math over 16 lanes (on, where the CPU has AVX-512) or 8, for the whole process; the
 * same bits either way. Returns whether 16 are now in use. The first load picks wide_default().
 */
static napi_value SetWide(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg, result;
  bool on;
  if (napi_get_cb_info(env, info, &argc, &arg, NULL, NULL) != napi_ok || argc != 1 || napi_get_value_bool(env, arg, &on) != napi_ok)
    return fail(env, "setWide takes one boolean");
  wide = on && wide_supported();
  napi_get_boolean(env, wide, &result);
  return result;
}

/*
 * wake(): workers asleep start spinning for the next job, so that it does not wait for the OS to
 * wake them (~60 µs here, sometimes milliseconds on a VM): JS calls it before a layer's input copies.
 */
static napi_value Wake(napi_env env, napi_callback_info info) {
  (void)env;
  (void)info;
  if (pool.started == 0) return NULL;
  atomic_fetch_add(&pool.hints, 1);
  pthread_mutex_lock(&pool.m);
  pthread_cond_broadcast(&pool.wake);
  pthread_mutex_unlock(&pool.m);
  return NULL;
}

/* threadedProducts(): how many products so far ran on more than one thread. */
static napi_value ThreadedProducts(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  napi_create_double(env, (double)atomic_load(&pool.threaded), &result);
  return result;
}

/* The workers stop and are joined when the last Node environment using the addon exits, so a process ends promptly. */
static void release_env(void *arg) {
  (void)arg;
  pthread_mutex_lock(&pool.submit);
  if (--pool.envs == 0) stop_pool();
  pthread_mutex_unlock(&pool.submit);
}

static void export(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn);
  napi_set_named_property(env, exports, name, fn);
}
#endif

NAPI_MODULE_INIT() {
  napi_value isa;
#ifdef ISA
  if (supported()) {
    export(env, exports, "matmul", Matmul);
    export(env, exports, "matmulBatch", MatmulBatch);
    export(env, exports, "gates", Gates);
    export(env, exports, "step", Step);
    export(env, exports, "trace", Trace);
    export(env, exports, "traceParts", TraceParts);
    export(env, exports, "setThreads", SetThreads);
    export(env, exports, "threadedProducts", ThreadedProducts);
    export(env, exports, "wake", Wake);
    export(env, exports, "setWide", SetWide);
    int by_default = wide_default();
    pthread_mutex_lock(&pool.submit);
    /* The width is the process's (like the thread count): chosen when the first environment loads the addon, so a
       worker thread loading it later does not undo a setWide. */
    static bool wide_chosen = false;
    if (!wide_chosen) wide = by_default;
    wide_chosen = true;
    pool.envs++;
    pthread_mutex_unlock(&pool.submit);
    napi_add_env_cleanup_hook(env, release_env, NULL);
    napi_create_string_utf8(env, by_default ? ISA ", gate math avx512f" : ISA, NAPI_AUTO_LENGTH, &isa);
  } else
    napi_create_string_utf8(env, "none: this CPU lacks AVX2/FMA", NAPI_AUTO_LENGTH, &isa);
#else
  napi_create_string_utf8(env, "none: no vector kernel for this architecture", NAPI_AUTO_LENGTH, &isa);
#endif
  napi_set_named_property(env, exports, "isa", isa);
  return exports;
}
