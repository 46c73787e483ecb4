/*
 * STAR layer over a whole sequence (equations in src/star.ts), input projection
 * included so no per-step tf op remains. Shapes: x [B, T, F], kernel [F, 2H] = [W_z | W_x],
 * recurrent [H, H], bias [2H], h0 [B, H]; out [B, T, H] (h_t of sequence b at row b·T + t).
 * Forward keeps what backward needs besides `out` in zs [T, B, 2H]: per row tanh(z) then
 * the gate s (paper: k = σ(·); official: the pre-activation f), written over the projection.
 */
#include "cellstack_kernel.h"

/* h_{t−1} of every sequence: rows of `out` (stride T·H) or h0 (stride H). */
#define PREV(t) ((t) ? out + (long)((t) - 1) * H : h0)
#define PREV_STRIDE(t) ((t) ? T * H : H)

CS_EXPORT(star_forward)(int T, int B, int F, int H, int official, const float *x, const float *Wk, const float *U,
                        const float *bias, const float *h0, float *out, float *hT, float *zs) {
  int G = 2 * H;
  cs_project(T, B, F, G, x, Wk, bias, zs);
  for (int t = 0; t < T; t++) {
    const float *hp = PREV(t);
    int sp = PREV_STRIDE(t);
    float *at = zs + (long)t * B * G, *ht = out + (long)t * H;
    cs_matmul(B, H, H, hp, sp, 1, U, H, at + H, G, 1);
    if (cs_host_min > 0) {
      int args[6] = {(int)at, G, (int)hp, sp, (int)ht, T * H};
      cs_host_step(official ? CS_STEP_STAR_OFFICIAL : CS_STEP_STAR, B, H, args);
      continue;
    }
    for (int b = 0; b < B; b++) {
      float *zb = at + (long)b * G, *fb = zb + H, *hb = ht + (long)b * T * H;
      const float *hpb = hp + (long)b * sp;
      cs_tanh_inplace(zb, H);
      if (!official) {
        cs_sigmoid_inplace(fb, H);
        for (int j = 0; j < H; j++) hb[j] = hpb[j] + fb[j] * (zb[j] - hpb[j]);
      } else
        for (int j = 0; j < H; j++) hb[j] = cs_sigmoid(fb[j]) * hpb[j] + (1.0f - cs_sigmoid(fb[j] - 1.0f)) * zb[j];
      cs_tanh_inplace(hb, H);
    }
  }
  for (int b = 0; b < B; b++) cs_copy(hT + b * H, out + ((long)b * T + T - 1) * H, H);
}

/* work: T·B·2H + B·H + H·H + F·2H + (T − 1)·B·H floats. */
CS_EXPORT(star_backward)(int T, int B, int F, int H, int official, const float *x, const float *Wk, const float *U,
                         const float *h0, const float *out, const float *zs, const float *dout, const float *dhT,
                         float *dx, float *dWk, float *dU, float *dbias, float *dh0, float *work) {
  int n = B * H, G = 2 * H;
  float *dxp = work, *dh = dxp + (long)T * B * G, *Ut = dh + n, *wt = Ut + H * H, *hs = wt + F * G;
  cs_transpose(Ut, U, H, H);
  cs_copy(dh, dhT, n);
  for (int t = T - 1; t >= 0; t--) {
    const float *hp = PREV(t);
    int sp = PREV_STRIDE(t);
    const float *at = zs + (long)t * B * G;
    float *dt = dxp + (long)t * B * G;
    if (cs_host_min > 0) {
      int args[12] = {(int)at, G, (int)(out + (long)t * H), T * H, (int)hp, sp, (int)(dout + (long)t * H), T * H, (int)dh, H, (int)dt, G};
      cs_host_step(official ? CS_STEP_STAR_OFFICIAL_GRAD : CS_STEP_STAR_GRAD, B, H, args);
    } else
      for (int b = 0; b < B; b++) {
        const float *h = out + ((long)b * T + t) * H, *hpb = hp + (long)b * sp, *zb = at + (long)b * G, *sb = zb + H;
        const float *dob = dout + ((long)b * T + t) * H;
        float *dz = dt + (long)b * G, *dg = dz + H, *dhb = dh + b * H;
        for (int j = 0; j < H; j++) {
          float da = (dhb[j] + dob[j]) * (1.0f - h[j] * h[j]), dzj;
          if (!official) {
            float k = sb[j];
            dzj = da * k;
            dg[j] = da * (zb[j] - hpb[j]) * k * (1.0f - k);
            dhb[j] = da * (1.0f - k);
          } else {
            float s1 = cs_sigmoid(sb[j]), s2 = cs_sigmoid(sb[j] - 1.0f);
            dzj = da * (1.0f - s2);
            dg[j] = da * (hpb[j] * s1 * (1.0f - s1) - zb[j] * s2 * (1.0f - s2));
            dhb[j] = da * s1;
          }
          dz[j] = dzj * (1.0f - zb[j] * zb[j]);
        }
      }
    cs_matmul(B, H, H, dt + H, G, 1, Ut, H, dh, H, 1);
  }
  /* dU = Σ_t h_{t−1}ᵀ·dg_t: h0's block, then steps 1..T−1 as one long product over h time-major. */
  cs_matmul(H, H, B, h0, 1, H, dxp + H, G, dU, H, 1);
  if (T > 1) {
    for (int t = 0; t < T - 1; t++)
      for (int b = 0; b < B; b++) cs_copy(hs + ((long)t * B + b) * H, out + ((long)b * T + t) * H, H);
    cs_matmul(H, H, (T - 1) * B, hs, 1, H, dxp + (long)B * G + H, G, dU, H, 1);
  }
  cs_copy(dh0, dh, n);
  cs_project_backward(T, B, F, G, x, Wk, dxp, dx, dWk, dbias, wt);
}
