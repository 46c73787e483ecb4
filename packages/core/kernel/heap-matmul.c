/*
 * Matrix products for tfjs-backend-wasm's BatchMatMul and _FusedMatMul, run in place on
 * the backend's own heap: this module imports tfjs's linear memory (built with
 * --import-memory), so operands are read and the product written where the tensors live.
 * It must therefore own no memory of its own: no data, no stack (tools/kernels/build.mjs
 * fails the build otherwise), which cs_matmul satisfies (all state in wasm locals).
 *
 * C[b] = A[b]·B[b] (+ bias, then ReLU when relu = 1) for b < batch. A's element (i, k) of
 * batch b is A[b·strideA + i·sa + k·sk] (A or Aᵀ in place); B is row-major [K, N] at
 * b·strideB; stride 0 broadcasts one operand over the batch. bias: N floats or null.
 */
#include "cellstack_kernel.h"

CS_EXPORT(heap_matmul)(int batch, int M, int N, int K, const float *A, int strideA, int sa, int sk, const float *B,
                       int strideB, float *C, const float *bias, int relu) {
  for (int b = 0; b < batch; b++) {
    float *c = C + (long)b * M * N;
    cs_matmul(M, N, K, A + (long)b * strideA, sa, sk, B + (long)b * strideB, N, c, N, 0);
    if (bias)
      for (long r = 0; r < M; r++)
        for (int j = 0; j < N; j++) c[r * N + j] += bias[j];
    if (relu)
      for (long i = 0; i < (long)M * N; i++) c[i] = c[i] > 0.0f ? c[i] : 0.0f;
  }
}

/*
 * The dense softmax head (src/accel/head.ts): a softmax over each of M rows of N, in place,
 * as tf.softmax computes it: exp(z − row max) / row sum. The exponentials run 4 lanes at a
 * time over all M·N values (a 10-unit head has rows too short to vectorise alone).
 */
CS_EXPORT(heap_softmax)(int M, int N, float *z) {
  for (long r = 0; r < M; r++) {
    float *row = z + r * N, m = row[0];
    for (int j = 1; j < N; j++) m = row[j] > m ? row[j] : m;
    for (int j = 0; j < N; j++) row[j] -= m;
  }
  long n = (long)M * N, i = 0;
  for (; i + 4 <= n; i += 4) f4st(z + i, f4exp(f4ld(z + i)));
  for (; i < n; i++) z[i] = cs_exp(z[i]);
  for (long r = 0; r < M; r++) {
    float *row = z + r * N, s = 0.0f;
    for (int j = 0; j < N; j++) s += row[j];
    for (int j = 0; j < N; j++) row[j] /= s;
  }
}

/* log for x > 0 normal (the clipped probabilities): Cephes' logf, ~1 ulp. */
static inline float cs_log(float x) {
  union {
    float f;
    int i;
  } u = {x};
  float e = (float)(((u.i >> 23) & 0xff) - 126);
  u.i = (u.i & 0x007fffff) | 0x3f000000; /* x = m·2^e, m in [0.5, 1) */
  float m = u.f;
  if (m < 0.707106781186547524f) {
    e -= 1.0f;
    m = m + m - 1.0f;
  } else
    m = m - 1.0f;
  float z = m * m;
  float y = 7.0376836292e-2f;
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z - 2.12194440e-4f * e - 0.5f * z;
  return m + y + 0.693359375f * e;
}

/* Target y[i] (float32, or int32 one-hot labels when y_int). */
static inline float cs_target(const void *y, int y_int, long i) { return y_int ? (float)((const int *)y)[i] : ((const float *)y)[i]; }

/*
 * tfjs-layers' categorical cross-entropy of the softmax head's M rows of N probabilities:
 * loss_r = −Σ y·log(clip(p / Σp, lo, hi)).
 */
CS_EXPORT(heap_cce)(int M, int N, const float *p, const void *y, int y_int, float lo, float hi, float *loss) {
  for (long r = 0; r < M; r++) {
    const float *pr = p + r * N;
    float s = 0.0f, l = 0.0f;
    for (int j = 0; j < N; j++) s += pr[j];
    for (int j = 0; j < N; j++) {
      float t = cs_target(y, y_int, r * N + j), q = pr[j] / s;
      if (t != 0.0f) l -= t * cs_log(q < lo ? lo : q > hi ? hi : q);
    }
    loss[r] = l;
  }
}

/*
 * Its gradient with respect to the head's logits, given w_r = ∂L/∂loss_r: the softmax's,
 * the normalisation's and the clip's gradients in one, dz = w·(p·Σ_u y − y_u), where u are
 * the unclipped entries (a clipped one passes no gradient, as tf.clipByValue).
 */
CS_EXPORT(heap_cce_grad)(int M, int N, const float *p, const void *y, int y_int, float lo, float hi, const float *w,
                         float *dz) {
  for (long r = 0; r < M; r++) {
    const float *pr = p + r * N;
    float *zr = dz + r * N;
    float s = 0.0f, total = 0.0f;
    for (int j = 0; j < N; j++) s += pr[j];
    for (int j = 0; j < N; j++) {
      float q = pr[j] / s, t = q >= lo && q <= hi ? cs_target(y, y_int, r * N + j) : 0.0f;
      total += t;
      zr[j] = -t;
    }
    for (int j = 0; j < N; j++) zr[j] = w[r] * (zr[j] + pr[j] * total);
  }
}

/* dz = p ⊙ (dp − Σ dp ⊙ p) per row: tf's softmax gradient. */
CS_EXPORT(heap_softmax_grad)(int M, int N, const float *p, const float *dp, float *dz) {
  for (long r = 0; r < M; r++) {
    const float *pr = p + r * N, *dr = dp + r * N;
    float s = 0.0f;
    for (int j = 0; j < N; j++) s += dr[j] * pr[j];
    for (int j = 0; j < N; j++) dz[r * N + j] = pr[j] * (dr[j] - s);
  }
}

/* out = Σ_rows z (the bias gradient). */
CS_EXPORT(heap_colsum)(int M, int N, const float *z, float *out) {
  for (int j = 0; j < N; j++) out[j] = 0.0f;
  for (long r = 0; r < M; r++)
    for (int j = 0; j < N; j++) out[j] += z[r * N + j];
}
