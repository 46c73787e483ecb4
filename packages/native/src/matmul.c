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
#include <node_api.h>
#include <stdint.h>

#if defined(__x86_64__)
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
  for (; j < N; j++) {
    float s[ROWS] = {0};
    for (int k = 0; k < K; k++)
      for (int r = 0; r < R; r++) s[r] += A[r * sa + k * sk] * B[k * ldb + j];
    for (int r = 0; r < R; r++) C[r * ldc + j] = acc ? C[r * ldc + j] + s[r] : s[r];
  }
}

static void matmul(int M, int N, int K, const float *A, long sa, long sk, const float *B, long ldb, float *C, long ldc,
                          int acc) {
  /* Long reductions in chunks, so the COLS-wide panel of B stays in L1. */
  enum { KC = 256 };
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
  int i = 0;
  for (; i + ROWS <= M; i += ROWS) rows(ROWS, N, K, A + i * sa, sa, sk, B, ldb, C + i * ldc, ldc, acc);
  const float *a = A + i * sa;
  float *c = C + i * ldc;
  switch (M - i) {
    case 5: rows(5, N, K, a, sa, sk, B, ldb, c, ldc, acc); break;
    case 4: rows(4, N, K, a, sa, sk, B, ldb, c, ldc, acc); break;
    case 3: rows(3, N, K, a, sa, sk, B, ldb, c, ldc, acc); break;
    case 2: rows(2, N, K, a, sa, sk, B, ldb, c, ldc, acc); break;
    case 1: rows(1, N, K, a, sa, sk, B, ldb, c, ldc, acc); break;
  }
}

#if defined(__x86_64__) && defined(__clang__)
#pragma clang attribute pop
#elif defined(__x86_64__)
#pragma GCC pop_options
#endif

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

/* matmul(memory: ArrayBuffer, M, N, K, A, sa, sk, B, ldb, C, ldc, accumulate): A, B, C are byte offsets. */
static napi_value Matmul(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12];
  void *base;
  size_t length;
  int32_t v[11];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 12) return fail(env, "matmul takes 12 arguments");
  if (napi_get_arraybuffer_info(env, argv[0], &base, &length) != napi_ok) return fail(env, "matmul: the first argument must be an ArrayBuffer");
  for (int i = 0; i < 11; i++)
    if (napi_get_value_int32(env, argv[i + 1], &v[i]) != napi_ok) return fail(env, "matmul: sizes, offsets and strides must be numbers");
  int32_t M = v[0], N = v[1], K = v[2], sa = v[4], sk = v[5], ldb = v[7], ldc = v[9];
  uint32_t A = (uint32_t)v[3], B = (uint32_t)v[6], C = (uint32_t)v[8];
  if (M < 0 || N < 0 || K < 0 || sa < 0 || sk < 0 || ldb < 0 || ldc < 0 || (A | B | C) & 3)
    return fail(env, "matmul: negative size or stride, or an offset not a multiple of 4");
  if (extent(A, M, K, sa, sk) > (int64_t)length || extent(B, K, N, ldb, 1) > (int64_t)length || extent(C, M, N, ldc, 1) > (int64_t)length)
    return fail(env, "matmul: an operand lies outside the buffer");
#ifdef ISA
  char *m = base;
  matmul(M, N, K, (const float *)(m + A), sa, sk, (const float *)(m + B), ldb, (float *)(m + C), ldc, v[10]);
#endif
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value isa;
#ifdef ISA
  if (supported()) {
    napi_value fn;
    napi_create_function(env, "matmul", NAPI_AUTO_LENGTH, Matmul, NULL, &fn);
    napi_set_named_property(env, exports, "matmul", fn);
    napi_create_string_utf8(env, ISA, NAPI_AUTO_LENGTH, &isa);
  } else
    napi_create_string_utf8(env, "none: this CPU lacks AVX2/FMA", NAPI_AUTO_LENGTH, &isa);
#else
  napi_create_string_utf8(env, "none: no vector kernel for this architecture", NAPI_AUTO_LENGTH, &isa);
#endif
  napi_set_named_property(env, exports, "isa", isa);
  return exports;
}
