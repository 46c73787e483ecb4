/*
 * NRU layer over a whole sequence (equations in src/nru.ts), input projection included so
 * no per-step tf op remains. Shapes: x [B, T, F]; kernel [F, Gp] with Gp = H ('hm') or
 * H + D ('xhm'); recurrent [H, H]; memoryKernel [M, H + D]; bias [H]; headKernel [H, D];
 * headBias [D]; lnGain, lnBias [H] (layer norm only); h0 [B, H], m0 [B, M]; out [B, T, H].
 * Head columns u (D = 2k + 4P): α (k) | β (k) | p^w | q^w | p^e | q^e, each p, q holding
 * G vectors of size r (P = G·r; 'shared': G = 1, r² = kM; 'perHead': G = k, r² = M).
 * Forward keeps hs [T, B, H] (h_t), ms [T, B, M] (m_t), us [T, B, D] (u_t), s5 [T, B, 2k]
 * (Σ|v|⁵ per head) and, with layer norm, zn [T, B, H] and rstd [T, B]. The directions
 * (2kM floats per example and step) are recomputed from u in backward rather than stored.
 */
#include "cellstack_kernel.h"

/* Option bits, as src/kernel.ts sets them. */
enum { NRU_MEAN = 1, NRU_XHM = 2, NRU_RELU = 4, NRU_LN = 8 };
#define LN_EPS 1e-5f
#define SUM5_FLOOR 1e-30f

/* a^(1/5) for a ≥ SUM5_FLOOR (∞ stays ∞): exponent/5 bit trick, then Newton in double. */
static float root5(float a) {
  if (!(a < __builtin_inff())) return a;
  union { float f; int i; } g = {a};
  g.i = (g.i - 0x3f800000) / 5 + 0x3f800000;
  double y = g.f;
  for (int it = 0; it < 5; it++) {
    double y2 = y * y;
    y = 0.8 * y + 0.2 * a / (y2 * y2);
  }
  return (float)y;
}

static float hsum(f4 v) {
  return wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1) + wasm_f32x4_extract_lane(v, 2) +
         wasm_f32x4_extract_lane(v, 3);
}

static float dot(const float *a, const float *b, int n) {
  f4 s = f4s(0);
  int i = 0;
  for (; i + 4 <= n; i += 4) s = wasm_f32x4_add(s, wasm_f32x4_mul(f4ld(a + i), f4ld(b + i)));
  float r = hsum(s);
  for (; i < n; i++) r += a[i] * b[i];
  return r;
}

/* y = a·x */
static void scale_to(float *y, float a, const float *x, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) f4st(y + i, wasm_f32x4_mul(f4s(a), f4ld(x + i)));
  for (; i < n; i++) y[i] = a * x[i];
}

/* y += a·x */
static void axpy(float *y, float a, const float *x, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) f4st(y + i, wasm_f32x4_add(f4ld(y + i), wasm_f32x4_mul(f4s(a), f4ld(x + i))));
  for (; i < n; i++) y[i] += a * x[i];
}

/* Σ v²·v²·|v|, the order tf uses for the L5 norm. */
static float sum5(const float *v, int n) {
  f4 s = f4s(0);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    f4 x = f4ld(v + i), sq = wasm_f32x4_mul(x, x);
    s = wasm_f32x4_add(s, wasm_f32x4_mul(wasm_f32x4_mul(sq, sq), wasm_f32x4_abs(x)));
  }
  float r = hsum(s);
  for (; i < n; i++) r += v[i] * v[i] * v[i] * v[i] * __builtin_fabsf(v[i]);
  return r;
}

static void relu_inplace(float *x, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) f4st(x + i, wasm_f32x4_pmax(f4ld(x + i), f4s(0)));
  for (; i < n; i++) x[i] = x[i] > 0 ? x[i] : 0;
}

/*
 * Un-normalised directions of one example into d [2k·M] from its v = u[2k:]: per set
 * (write, erase) and group, the row-major outer product p qᵀ; the k heads of a set are
 * consecutive chunks of M (in 'shared' they may straddle rows). ReLU'd with useRelu.
 */
static void directions(float *d, const float *v, int k, int M, int G, int r, int relu) {
  int P = G * r;
  for (int s = 0; s < 2; s++)
    for (int g = 0; g < G; g++) {
      const float *p = v + s * 2 * P + g * r, *q = p + P;
      float *blk = d + (long)s * k * M + (long)g * r * r;
      for (int i = 0; i < r; i++) scale_to(blk + i * r, p[i], q, r);
    }
  if (relu) relu_inplace(d, 2 * k * M);
}

/*
 * Gradient of one head's raw direction d (overwritten) for v = d/N, N = max(Σ|d|⁵, floor)^⅕,
 * given dL/dv = coef·dm: with c = dm·v (0 below the floor, where N is constant),
 * dL/dd = (coef/N)(dm − c·v³|v|), masked to d > 0 with useRelu.
 */
static void direction_backward(float *d, const float *dm, float a, float c, float invN, int relu, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    f4 x = f4ld(d + i), v = wasm_f32x4_mul(x, f4s(invN)), v2 = wasm_f32x4_mul(v, v);
    f4 v5 = wasm_f32x4_mul(wasm_f32x4_mul(v2, v), wasm_f32x4_abs(v));
    f4 g = wasm_f32x4_mul(f4s(a), wasm_f32x4_sub(f4ld(dm + i), wasm_f32x4_mul(f4s(c), v5)));
    if (relu) g = wasm_v128_and(g, wasm_f32x4_gt(x, f4s(0)));
    f4st(d + i, g);
  }
  for (; i < n; i++) {
    float v = d[i] * invN, g = a * (dm[i] - c * v * v * v * __builtin_fabsf(v));
    d[i] = relu && !(d[i] > 0) ? 0 : g;
  }
}

/* h = ReLU(LN(z)) for one row; keeps zn and 1/σ for backward. */
static void layer_norm_relu(float *h, const float *z, const float *gain, const float *lnb, float *zn, float *rstd, int H) {
  float mean = 0, var = 0;
  for (int j = 0; j < H; j++) mean += z[j];
  mean /= H;
  for (int j = 0; j < H; j++) var += (z[j] - mean) * (z[j] - mean);
  float rs = 1.0f / __builtin_sqrtf(var / H + LN_EPS);
  *rstd = rs;
  for (int j = 0; j < H; j++) {
    zn[j] = (z[j] - mean) * rs;
    float y = zn[j] * gain[j] + lnb[j];
    h[j] = y > 0 ? y : 0;
  }
}

/* dz for one row given dy = dL/d(LN output) (ReLU already applied); accumulates dgain, dlnb. */
static void layer_norm_backward(float *dz, const float *dy, const float *zn, float rs, const float *gain, float *dgain,
                                float *dlnb, int H) {
  float m1 = 0, m2 = 0;
  for (int j = 0; j < H; j++) {
    float dzn = dy[j] * gain[j];
    dgain[j] += dy[j] * zn[j];
    dlnb[j] += dy[j];
    m1 += dzn;
    m2 += dzn * zn[j];
  }
  m1 /= H;
  m2 /= H;
  for (int j = 0; j < H; j++) dz[j] = rs * (dy[j] * gain[j] - m1 - zn[j] * m2);
}

/* work: T·B·Gp + B·(H + D) + 2k·M + Gp floats. */
CS_EXPORT(nru_forward)(int T, int B, int F, int H, int M, int k, int G, int r, int opts, const float *x, const float *Wk,
                       const float *U, const float *Wm, const float *bias, const float *Wh, const float *hb,
                       const float *h0, const float *m0, const float *gain, const float *lnb, float *out, float *hT,
                       float *mT, float *hs, float *ms, float *us, float *s5, float *zn, float *rstd, float *work) {
  int D = 2 * k + 4 * G * r, W = H + D, xhm = opts & NRU_XHM, Gp = xhm ? W : H, relu = opts & NRU_RELU;
  float scale = opts & NRU_MEAN ? 1.0f / k : 1.0f;
  float *xp = work, *zu = xp + (long)T * B * Gp, *dirs = zu + (long)B * W, *cb = dirs + (long)2 * k * M;
  // With 'xhm' the projection also carries the heads' x part, and the head bias with it.
  cs_copy(cb, bias, H);
  if (xhm) cs_copy(cb + H, hb, D);
  cs_project(T, B, F, Gp, x, Wk, cb, xp);
  for (int t = 0; t < T; t++) {
    const float *hp = t ? hs + (long)(t - 1) * B * H : h0, *mp = t ? ms + (long)(t - 1) * B * M : m0;
    float *h = hs + (long)t * B * H, *m = ms + (long)t * B * M, *u = us + (long)t * B * D;
    // zu = [z | u] = [xp_h | xp_u or headBias] + m_{t−1}·memoryKernel + [h_{t−1}·recurrent | h_t·headKernel]
    for (int b = 0; b < B; b++) {
      cs_copy(zu + b * W, xp + ((long)t * B + b) * Gp, Gp);
      if (!xhm) cs_copy(zu + b * W + H, hb, D);
    }
    cs_matmul(B, W, M, mp, M, 1, Wm, W, zu, W, 1);
    cs_matmul(B, H, H, hp, H, 1, U, H, zu, W, 1);
    for (int b = 0; b < B; b++) {
      const float *z = zu + b * W;
      float *hr = h + b * H;
      if (opts & NRU_LN)
        layer_norm_relu(hr, z, gain, lnb, zn + ((long)t * B + b) * H, rstd + (long)t * B + b, H);
      else
        for (int j = 0; j < H; j++) hr[j] = z[j] > 0 ? z[j] : 0;
    }
    cs_matmul(B, D, H, h, H, 1, Wh, D, zu + H, W, 1);
    for (int b = 0; b < B; b++) {
      float *ub = u + b * D, *mb = m + b * M, *sb = s5 + ((long)t * B + b) * 2 * k;
      cs_copy(ub, zu + b * W + H, D);
      cs_copy(mb, mp + b * M, M);
      directions(dirs, ub + 2 * k, k, M, G, r, relu);
      for (int e = 0; e < 2 * k; e++) {
        const float *de = dirs + (long)e * M;
        float w = relu && !(ub[e] > 0) ? 0 : ub[e], S = sb[e] = sum5(de, M);
        float coef = (e < k ? scale : -scale) * w;
        axpy(mb, coef / root5(S > SUM5_FLOOR ? S : SUM5_FLOOR), de, M);
      }
    }
  }
  cs_to_batch_major(out, hs, T, B, H);
  cs_copy(hT, hs + (long)(T - 1) * B * H, B * H);
  cs_copy(mT, ms + (long)(T - 1) * B * M, B * M);
}

/* work: T·B·Gp + B·(H + D) + B·H + B·M + H·H + (H + D)·M + D·H + 2k·M + Gp + F·Gp floats. */
CS_EXPORT(nru_backward)(int T, int B, int F, int H, int M, int k, int G, int r, int opts, const float *x,
                        const float *Wk, const float *U, const float *Wm, const float *Wh, const float *gain,
                        const float *h0, const float *m0, const float *hs, const float *ms, const float *us,
                        const float *s5, const float *zn, const float *rstd, const float *dout, const float *dhT,
                        const float *dmT, float *dx, float *dWk, float *dU, float *dWm, float *dbias, float *dWh,
                        float *dhb, float *dh0, float *dm0, float *dgain, float *dlnb, float *work) {
  int D = 2 * k + 4 * G * r, W = H + D, xhm = opts & NRU_XHM, Gp = xhm ? W : H, relu = opts & NRU_RELU;
  int P = G * r;
  float scale = opts & NRU_MEAN ? 1.0f / k : 1.0f;
  float *dxp = work, *dzw = dxp + (long)T * B * Gp, *dh = dzw + (long)B * W, *dm = dh + B * H;
  float *Ut = dm + B * M, *Wmt = Ut + H * H, *Wht = Wmt + W * M, *dirs = Wht + D * H, *cb = dirs + (long)2 * k * M;
  float *pw = cb + Gp;
  cs_transpose(Ut, U, H, H);
  cs_transpose(Wmt, Wm, M, W);
  cs_transpose(Wht, Wh, H, D);
  cs_copy(dh, dhT, B * H);
  cs_copy(dm, dmT, B * M);
  for (int t = T - 1; t >= 0; t--) {
    const float *hp = t ? hs + (long)(t - 1) * B * H : h0, *mp = t ? ms + (long)(t - 1) * B * M : m0;
    const float *h = hs + (long)t * B * H, *u = us + (long)t * B * D;
    // dzu = [dz | du]; with 'xhm' it is this step's slice of the projection gradient itself.
    float *dzu = xhm ? dxp + (long)t * B * W : dzw;
    for (int b = 0; b < B; b++) {
      const float *ub = u + b * D, *sb = s5 + ((long)t * B + b) * 2 * k, *dmb = dm + b * M;
      float *du = dzu + b * W + H;
      axpy(dh + b * H, 1.0f, dout + ((long)b * T + t) * H, H);
      // m_t = m_{t−1} + Σ_e coef_e·v_e: dcoef_e = dm·v_e, then back through v_e = d_e/N_e.
      directions(dirs, ub + 2 * k, k, M, G, r, relu);
      for (int e = 0; e < 2 * k; e++) {
        float *de = dirs + (long)e * M;
        int on = !relu || ub[e] > 0;
        float sg = e < k ? scale : -scale, coef = sg * (on ? ub[e] : 0);
        float invN = 1.0f / root5(sb[e] > SUM5_FLOOR ? sb[e] : SUM5_FLOOR), dcoef = dot(dmb, de, M) * invN;
        du[e] = on ? sg * dcoef : 0;
        direction_backward(de, dmb, coef * invN, sb[e] >= SUM5_FLOOR ? dcoef : 0, invN, relu, M);
      }
      // Back through each outer product p qᵀ: dp = dD·q, dq = dDᵀ·p.
      for (int s = 0; s < 2; s++)
        for (int g = 0; g < G; g++) {
          const float *p = ub + 2 * k + s * 2 * P + g * r, *q = p + P;
          const float *blk = dirs + (long)s * k * M + (long)g * r * r;
          float *dp = du + 2 * k + s * 2 * P + g * r, *dq = dp + P;
          cs_zero(dq, r);
          for (int i = 0; i < r; i++) {
            dp[i] = dot(blk + i * r, q, r);
            axpy(dq, p[i], blk + i * r, r);
          }
        }
    }
    // h_t feeds the output, the next step and the heads.
    cs_matmul(B, H, D, dzu + H, W, 1, Wht, H, dh, H, 1);
    for (int b = 0; b < B; b++) {
      const float *hr = h + b * H;
      float *dhr = dh + b * H, *dz = dzu + b * W;
      for (int j = 0; j < H; j++) dhr[j] = hr[j] > 0 ? dhr[j] : 0;
      if (opts & NRU_LN)
        layer_norm_backward(dz, dhr, zn + ((long)t * B + b) * H, rstd[(long)t * B + b], gain, dgain, dlnb, H);
      else
        cs_copy(dz, dhr, H);
    }
    cs_matmul(H, D, B, h, 1, H, dzu + H, W, dWh, D, 1);
    cs_matmul(M, W, B, mp, 1, M, dzu, W, dWm, W, 1);
    cs_matmul(H, H, B, hp, 1, H, dzu, W, dU, H, 1);
    cs_matmul(B, H, H, dzu, W, 1, Ut, H, dh, H, 0);
    cs_matmul(B, M, W, dzu, W, 1, Wmt, M, dm, M, 1);
    if (!xhm)
      for (int b = 0; b < B; b++) {
        cs_copy(dxp + ((long)t * B + b) * H, dzu + b * W, H);
        cs_colsum(dhb, dzu + b * W + H, 1, D);
      }
  }
  cs_copy(dh0, dh, B * H);
  cs_copy(dm0, dm, B * M);
  cs_project_backward(T, B, F, Gp, x, Wk, dxp, dx, dWk, cb, pw);
  cs_copy(dbias, cb, H);
  if (xhm) cs_copy(dhb, cb + H, D);
}
