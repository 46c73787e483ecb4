/*
 * Traced programs on the addon: the interpreter of @cellstack/core's traced kernels (trace-interp.c,
 * the same source its kernel/trace.wasm is built from) over 8 lanes with FMA, its products on the
 * pool (`parallel_matmul`) with no JS crossing between them. Included by matmul.c (it shares the
 * pool and the vector math).
 *
 * trace(memory, code, steps, t0, dt): runs the program whose int32 code lies at byte offset `code`
 * of `memory` (the wasm module's memory, whose buffers it names by byte offset) for `steps` steps,
 * t = t0, t0 + dt, … (dt ±1), exactly as the wasm module's trace_run; returns the multiply-adds of
 * its products.
 */
#include <stdlib.h>

#ifdef ISA
#if defined(__x86_64__) && defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#elif defined(__x86_64__)
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

/* The interpreter's vector layer (see trace-interp.c): masks are vf's bits. */
typedef v8 vf;
enum { VN = 8 };
static inline vf VLD(const float *p) { return *(const v8 *)p; }
static inline void VST(float *p, vf v) { *(v8 *)p = v; }
static inline vf VS(float x) { return bcast(x); }
static inline vf VADD(vf a, vf b) { return a + b; }
static inline vf VSUB(vf a, vf b) { return a - b; }
static inline vf VMUL(vf a, vf b) { return a * b; }
static inline vf VDIV(vf a, vf b) { return a / b; }
static inline vf VNEG(vf a) { return -a; }
static inline vf VABS(vf a) { return (vf)((vi8)a & 0x7fffffff); }
static inline vf VSQRT(vf a) {
#if defined(__x86_64__)
  return (vf)_mm256_sqrt_ps((__m256)a);
#else
  for (int i = 0; i < 8; i++) a[i] = __builtin_sqrtf(a[i]);
  return a;
#endif
}
static inline vf VPMAX(vf a, vf b) { return sel(a < b, b, a); } /* wasm's pmax: b > a ? b : a */
static inline vf VGT(vf a, vf b) { return (vf)(a > b); }
static inline vf VGE(vf a, vf b) { return (vf)(a >= b); }
static inline vf VLT(vf a, vf b) { return (vf)(a < b); }
static inline vf VLE(vf a, vf b) { return (vf)(a <= b); }
static inline vf VEQ(vf a, vf b) { return (vf)(a == b); }
static inline vf VNE(vf a, vf b) { return (vf)(a != b); }
static inline vf VAND(vf a, vf b) { return (vf)((vi8)a & (vi8)b); }
static inline vf VOR(vf a, vf b) { return (vf)((vi8)a | (vi8)b); }
static inline vf VSEL(vf a, vf b, vf m) { return sel((vi8)m, a, b); }
#define VEXP exp8
#define VSIGMOID sigmoid8
#define VTANH tanh8
static inline float VHSUM(vf v) { return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7])); }
static inline float VHMAX(vf v) {
  float m = v[0];
  for (int i = 1; i < 8; i++) m = v[i] > m ? v[i] : m;
  return m;
}

static inline float cs_exp(float x) { return exp8(bcast(x))[0]; }
static inline float cs_sigmoid(float x) { return sigmoid8(bcast(x))[0]; }
static inline float cs_tanh(float x) { return tanh8(bcast(x))[0]; }
static inline void cs_copy(float *dst, const float *src, int n) { __builtin_memcpy(dst, src, sizeof(float) * (size_t)n); }
static inline void cs_zero(float *dst, int n) { __builtin_memset(dst, 0, sizeof(float) * (size_t)n); }
static inline void cs_transpose(float *dst, const float *src, int rows, int cols) {
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cols; c++) dst[(long)c * rows + r] = src[(long)r * cols + c];
}
/* Multiply-adds of the current call's products (returned by `trace`: core counts them as it counts cs_host_matmul's). */
static _Thread_local double trace_macs;
static inline void cs_matmul(int M, int N, int K, const float *A, int sa, int sk, const float *B, int ldb, float *C, int ldc, int acc) {
  trace_macs += (double)M * N * K;
  parallel_matmul(M, N, K, A, sa, sk, B, ldb, C, ldc, acc);
}

/* A fused run's tiles split over the pool when each thread gets ≥ FUSED_PART_MIN elements: a pool job costs
   a wake and a wait, which measured more than the run itself at W2's [32, 64] runs (STAR, GRU, DMU W2
   10–35 % slower split at 1024 a thread). Every element is computed by the same code whatever the split, so
   results are bit-identical on any thread count. */
#define FUSED_PART_MIN 4096L
typedef struct {
  const int *h;
  float *const *p;
} FusedRun;
static void fused_tiles(const int *h, float *const *p, int t0, int t1);
static void fused_rows(const void *ctx, int t0, int t1) {
  const FusedRun *r = ctx;
  fused_tiles(r->h, r->p, t0, t1);
}
static void fused_run(const int *h, float *const *p, int tiles) {
  FusedRun run = {h, p};
  int threads = atomic_load(&pool.wanted);
  if (h[2] / FUSED_PART_MIN < threads) threads = (int)(h[2] / FUSED_PART_MIN);
  if (tiles < threads) threads = tiles;
  if (threads < 2 || pthread_mutex_trylock(&pool.submit) != 0) {
    fused_tiles(h, p, 0, tiles);
    return;
  }
  pool.job = (Job){.M = tiles, .N = h[3], .gates = -1, .rows = fused_rows, .ctx = &run};
  run_parallel(threads, tiles, threads * CHUNKS_PER_THREAD);
}
#define FUSED_RUN(h, p, tiles) fused_run(h, p, tiles)

#include "trace-interp.c"

#if defined(__x86_64__) && defined(__clang__)
#pragma clang attribute pop
#elif defined(__x86_64__)
#pragma GCC pop_options
#endif
#endif

/*
 * The program's words after its header: the buffer table, the op records of its three sections and
 * its copies (trace-interp.c's layout). Checked: the code, and every buffer's address at every step
 * it is bound for, lie inside the buffer; the op records' own extents are the lowering's
 * (@cellstack/core's src/trace/lower.ts, which writes every program this runs). Returns why not, or NULL.
 */
static const char *check_code(const char *base, size_t length, uint32_t at, int32_t steps, int32_t t0, int32_t dt) {
  if (at & 3 || (int64_t)at + 4 * 6 > (int64_t)length) return "trace: the code offset is not a multiple of 4 or lies outside the buffer";
  if (steps < 0 || (dt != 1 && dt != -1)) return "trace: steps must be ≥ 0 and dt 1 or −1";
  const int32_t *code = (const int32_t *)(base + at);
  int32_t nbuf = code[0], nops = code[1], ncopies = code[2], npre = code[3], npost = code[4];
  if (nbuf < 0 || nops < 0 || ncopies < 0 || npre < 0 || npost < 0) return "trace: a negative count in the code's header";
  int64_t words = 6 + 3 * (int64_t)nbuf + 32 * ((int64_t)nops + npre + npost) + 4 * (int64_t)ncopies;
  if ((int64_t)at + 4 * words > (int64_t)length) return "trace: the code runs past the end of the buffer";
  int64_t tmin = dt > 0 ? t0 : (int64_t)t0 - steps + 1, tmax = tmin + steps - 1;
  if (steps > 0 && tmin < 0) return "trace: a step before t = 0";
  for (int32_t i = 0; i < nbuf && steps > 0; i++) {
    const int32_t *b = code + 6 + 3 * i;
    int64_t last = b[2] > 0 ? (tmax < b[2] - 1 ? tmax : b[2] - 1) : tmax;
    if (b[1] < 0 || b[2] < 0 || (int64_t)(uint32_t)b[0] + 4 * (int64_t)b[1] * last > (int64_t)length)
      return "trace: a buffer of the program lies outside the memory";
  }
  return NULL;
}

#ifdef ISA
/* Programs run side by side, one per block of batch rows (traceParts): each on one thread, its products too. */
typedef struct {
  char *base;
  const int32_t *const *codes;
  int steps, t0, dt;
  double *macs;
  int failed;
} Parts;

static void run_parts(const void *ctx, int from, int to) {
  Parts *q = (Parts *)ctx;
  for (int i = from; i < to; i++) {
    float **ptrs = malloc(sizeof(float *) * (size_t)(q->codes[i][0] > 0 ? q->codes[i][0] : 1));
    if (!ptrs) {
      q->failed = 1;
      continue;
    }
    trace_macs = 0;
    trace_steps(q->codes[i], ptrs, q->steps, q->t0, q->dt, q->base);
    q->macs[i] = trace_macs;
    free(ptrs);
  }
}

/* Every program over the same steps; returns their products' multiply-adds, or −1 out of memory. */
static double trace_programs(char *base, const int32_t *const *codes, int parts, int steps, int t0, int dt) {
  double macs[MAX_THREADS] = {0};
  Parts q = {base, codes, steps, t0, dt, macs, 0};
  /* One block a thread (the pool's threshold counts B·H elements: parts × GATES_PART_MIN passes it). */
  parallel_rows(run_parts, &q, parts, GATES_PART_MIN);
  double sum = 0;
  for (int i = 0; i < parts; i++) sum += macs[i];
  return q.failed ? -1 : sum;
}
#endif

/*
 * trace(memory, code, steps, t0, dt): one program (see the top of this file).
 * traceParts(memory, list, parts, steps, t0, dt): `parts` programs whose code offsets are the int32s at
 * byte offset `list`, run side by side on the pool's threads, one each (blocks of batch rows on buffers
 * of their own: @cellstack/core's src/trace/split.ts); their products then stay on that thread.
 */
static napi_value run_traces(napi_env env, void *base, size_t length, const uint32_t *at, int parts, int32_t steps, int32_t t0, int32_t dt) {
  for (int i = 0; i < parts; i++) {
    const char *why = check_code(base, length, at[i], steps, t0, dt);
    if (why) return fail(env, why);
  }
#ifdef ISA
  const int32_t *codes[MAX_THREADS];
  for (int i = 0; i < parts; i++) codes[i] = (const int32_t *)((char *)base + at[i]);
  double macs = trace_programs(base, codes, parts, steps, t0, dt);
  if (macs < 0) return fail(env, "trace: out of memory");
  napi_value result;
  napi_create_double(env, macs, &result);
  return result;
#else
  return NULL;
#endif
}

static napi_value Trace(napi_env env, napi_callback_info info) {
  void *base;
  size_t length;
  int32_t v[4];
  if (!int_args(env, info, "trace", "code offset, steps, t0 and dt", 4, &base, &length, v)) return NULL;
  uint32_t at = (uint32_t)v[0];
  return run_traces(env, base, length, &at, 1, v[1], v[2], v[3]);
}

static napi_value TraceParts(napi_env env, napi_callback_info info) {
  void *base;
  size_t length;
  int32_t v[5];
  if (!int_args(env, info, "traceParts", "list offset, parts, steps, t0 and dt", 5, &base, &length, v)) return NULL;
  uint32_t list = (uint32_t)v[0];
  int32_t parts = v[1];
  if (parts < 1 || parts > MAX_THREADS) return fail(env, "traceParts: parts must be 1 to 64");
  if (list & 3 || (int64_t)list + 4 * (int64_t)parts > (int64_t)length) return fail(env, "traceParts: the list offset is not a multiple of 4 or the list lies outside the buffer");
  uint32_t at[MAX_THREADS];
  for (int i = 0; i < parts; i++) at[i] = ((const uint32_t *)((char *)base + list))[i];
  return run_traces(env, base, length, at, parts, v[2], v[3], v[4]);
}
