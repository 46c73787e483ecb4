/*
 * Adam's update for tfjs-backend-wasm, run in place on the backend's heap (imported
 * memory, no memory of its own, as heap-matmul.c): one call per variable instead of the
 * ~13 tensor ops of tf.AdamOptimizer. Each operation is one IEEE float32 operation in
 * tf's order (adam_optimizer.ts), so the result is bit-identical to tf's Adam:
 *   g = grad·scale (skipped when scale = 1, as no tf.mul runs then)
 *   m1 = m·b1 + g·c1;  v1 = v·b2 + (g·g)·c2
 *   x1 = ((m1/d1) / (sqrt(v1/d2) + eps))·step + x
 * with c = 1 − b, d = 1 − β^t, step = −lr. Outputs go to new buffers (tensors are immutable).
 */
#include "cellstack_kernel.h"

CS_EXPORT(heap_adam)(int n, const float *grad, float scale, const float *m, const float *v, const float *x, float *m1,
                     float *v1, float *x1, float b1, float b2, float c1, float c2, float d1, float d2, float eps, float step) {
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    f4 g = wasm_v128_load(grad + i);
    if (scale != 1.0f) g = wasm_f32x4_mul(g, f4s(scale));
    f4 mk = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(m + i), f4s(b1)), wasm_f32x4_mul(g, f4s(c1)));
    f4 vk = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(v + i), f4s(b2)), wasm_f32x4_mul(wasm_f32x4_mul(g, g), f4s(c2)));
    f4 den = wasm_f32x4_add(wasm_f32x4_sqrt(wasm_f32x4_div(vk, f4s(d2))), f4s(eps));
    f4 xk = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_div(wasm_f32x4_div(mk, f4s(d1)), den), f4s(step)), wasm_v128_load(x + i));
    wasm_v128_store(m1 + i, mk);
    wasm_v128_store(v1 + i, vk);
    wasm_v128_store(x1 + i, xk);
  }
  for (; i < n; i++) {
    float g = scale != 1.0f ? grad[i] * scale : grad[i];
    float mk = m[i] * b1 + g * c1, vk = v[i] * b2 + (g * g) * c2;
    m1[i] = mk;
    v1[i] = vk;
    x1[i] = ((mk / d1) / (__builtin_sqrtf(vk / d2) + eps)) * step + x[i];
  }
}

/* Σ grad² in double, for the global gradient norm of clipping. */
__attribute__((export_name("heap_sum_squares"))) double heap_sum_squares(int n, const float *grad) {
  double s = 0;
  for (int i = 0; i < n; i++) s += (double)grad[i] * grad[i];
  return s;
}
