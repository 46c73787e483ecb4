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
