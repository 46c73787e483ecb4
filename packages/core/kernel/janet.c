/*
 * JANET layer over a whole sequence (src/baselines/janet.ts):
 *   [s | z_c] = x_t W + h_{t−1} U + b;  h_t = σ(s) ∘ h_{t−1} + (1 − σ(s − β)) ∘ tanh(z_c)
 * Shapes: x [B, T, F], kernel W [F, 2H], recurrent U [H, 2H], bias [2H], h0 [B, H]; out [B, T, H].
 * Batch-major throughout (step t is rows b·T + t). Forward saves z [B, T, 2H] = [s | tanh(z_c)]
 * and `out`; backward recomputes the two sigmoids from s.
 */
#include "cellstack_kernel.h"

/* σ(x), and 1 − σ(x) as e^{−x}·σ(x): no cancellation where σ(x) is near 1 (the saturated forget gate). */
CS_INLINE f4 sigmoid_pair(f4 x, f4 *rest) {
  f4 e = f4exp(wasm_f32x4_neg(x)), y = wasm_f32x4_div(f4s(1.0f), wasm_f32x4_add(f4s(1.0f), e));
  *rest = wasm_f32x4_mul(e, y);
  return y;
}

/* Four lanes of one step: c = tanh(z_c) in place, h = f·h_prev + (1 − g)·c. */
CS_INLINE void step4(float *s, float *c, const float *hp, float *h, f4 beta) {
  f4 sv = f4ld(s), cv = f4tanh(f4ld(c)), f1, g1;
  f4 f = sigmoid_pair(sv, &f1);
  sigmoid_pair(wasm_f32x4_sub(sv, beta), &g1);
  f4st(c, cv);
  f4st(h, wasm_f32x4_add(wasm_f32x4_mul(f, f4ld(hp)), wasm_f32x4_mul(g1, cv)));
}

/* Four lanes of the step's gradient: given d = ∂L/∂h_t, write ds, dz_c and dh_prev's direct part d·f. */
CS_INLINE void grad4(const float *s, const float *c, const float *hp, const float *dh, const float *dout, float *ds,
                     float *dc, float *dhp, f4 beta) {
  f4 sv = f4ld(s), cv = f4ld(c), d = wasm_f32x4_add(f4ld(dh), f4ld(dout)), f1, g1;
  f4 f = sigmoid_pair(sv, &f1), g = sigmoid_pair(wasm_f32x4_sub(sv, beta), &g1);
  f4 df = wasm_f32x4_mul(f4ld(hp), wasm_f32x4_mul(f, f1)), dg = wasm_f32x4_mul(cv, wasm_f32x4_mul(g, g1));
  f4st(ds, wasm_f32x4_mul(d, wasm_f32x4_sub(df, dg)));
  f4st(dc, wasm_f32x4_mul(d, wasm_f32x4_mul(g1, wasm_f32x4_sub(f4s(1.0f), wasm_f32x4_mul(cv, cv)))));
  f4st(dhp, wasm_f32x4_mul(d, f));
}

/* The last H mod 4 lanes go through the same vector code via zero-padded copies. */
CS_INLINE void pad4(float *dst, const float *src, int m) {
  for (int i = 0; i < 4; i++) dst[i] = i < m ? src[i] : 0.0f;
}

CS_EXPORT(janet_forward)(int T, int B, int F, int H, float beta, const float *x, const float *W, const float *U,
                         const float *bias, const float *h0, float *out, float *hT, float *z) {
  int G = 2 * H;
  long ld = (long)T * H, lz = (long)T * G;
  f4 bv = f4s(beta);
  cs_matmul(B * T, G, F, x, F, 1, W, G, z, G, 0);
  for (long r = 0; r < (long)B * T; r++)
    for (int j = 0; j < G; j++) z[r * G + j] += bias[j];
  for (int t = 0; t < T; t++) {
    float *zt = z + (long)t * G;
    const float *hp = t ? out + (long)(t - 1) * H : h0;
    long lp = t ? ld : H;
    cs_matmul(B, G, H, hp, lp, 1, U, G, zt, lz, 1);
    if (cs_host_min > 0) {
      int args[7] = {(int)zt, (int)lz, (int)hp, (int)lp, (int)(out + (long)t * H), (int)ld};
      __builtin_memcpy(args + 6, &beta, 4);
      cs_host_step(CS_STEP_JANET, B, H, args);
      continue;
    }
    for (int b = 0; b < B; b++) {
      float *s = zt + b * lz, *c = s + H, *h = out + b * ld + (long)t * H;
      const float *hpb = hp + b * lp;
      int j = 0;
      for (; j + 4 <= H; j += 4) step4(s + j, c + j, hpb + j, h + j, bv);
      int m = H - j;
      if (m) {
        float s4[4], c4[4], hp4[4], h4[4];
        pad4(s4, s + j, m), pad4(c4, c + j, m), pad4(hp4, hpb + j, m);
        step4(s4, c4, hp4, h4, bv);
        for (int i = 0; i < m; i++) c[j + i] = c4[i], h[j + i] = h4[i];
      }
    }
  }
  for (int b = 0; b < B; b++) cs_copy(hT + b * H, out + b * ld + ld - H, H);
}

/* work: B·T·2H (dz, batch-major) + B·H + 2H·H + 2H·F floats. */
CS_EXPORT(janet_backward)(int T, int B, int F, int H, float beta, const float *x, const float *W, const float *U,
                          const float *h0, const float *z, const float *out, const float *dout, const float *dhT,
                          float *dx, float *dW, float *dU, float *dbias, float *dh0, float *work) {
  int G = 2 * H;
  long ld = (long)T * H, lz = (long)T * G;
  f4 bv = f4s(beta);
  float *dz = work, *dh = dz + (long)B * lz, *Ut = dh + B * H, *Wt = Ut + G * H;
  cs_transpose(Ut, U, H, G);
  cs_transpose(Wt, W, F, G);
  cs_copy(dh, dhT, B * H);
  for (int t = T - 1; t >= 0; t--) {
    if (cs_host_min > 0) {
      const float *hp = t ? out + (long)(t - 1) * H : h0;
      int args[11] = {(int)(z + (long)t * G), (int)lz, (int)hp, t ? (int)ld : H, (int)(dout + (long)t * H), (int)ld, (int)dh, H,
                      (int)(dz + (long)t * G), (int)lz};
      __builtin_memcpy(args + 10, &beta, 4);
      cs_host_step(CS_STEP_JANET_GRAD, B, H, args);
    } else
      for (int b = 0; b < B; b++) {
        long rz = b * lz + (long)t * G, rh = b * ld + (long)t * H;
        const float *s = z + rz, *c = s + H, *hpb = t ? out + rh - H : h0 + b * H, *dob = dout + rh;
        float *ds = dz + rz, *dc = ds + H, *dhb = dh + b * H;
        int j = 0;
        for (; j + 4 <= H; j += 4) grad4(s + j, c + j, hpb + j, dhb + j, dob + j, ds + j, dc + j, dhb + j, bv);
        int m = H - j;
        if (m) {
          float s4[4], c4[4], hp4[4], dh4[4], do4[4], ds4[4], dc4[4];
          pad4(s4, s + j, m), pad4(c4, c + j, m), pad4(hp4, hpb + j, m), pad4(dh4, dhb + j, m), pad4(do4, dob + j, m);
          grad4(s4, c4, hp4, dh4, do4, ds4, dc4, dh4, bv);
          for (int i = 0; i < m; i++) ds[j + i] = ds4[i], dc[j + i] = dc4[i], dhb[j + i] = dh4[i];
        }
      }
    cs_matmul(B, H, G, dz + (long)t * G, lz, 1, Ut, H, dh, H, 1);
  }
  cs_copy(dh0, dh, B * H);
  cs_recurrent_backward(T, B, F, H, G, x, out, h0, dz, Wt, dU, dW, dbias, dx);
}
