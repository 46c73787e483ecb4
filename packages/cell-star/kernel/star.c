/*
 * STAR layer over a whole sequence (equations in src/star.ts), input projection
 * included so no per-step tf op remains. Shapes: x [B, T, F], kernel [F, 2H] = [W_z | W_x],
 * recurrent [H, H], bias [2H], h0 [B, H]; out [B, T, H] (h_t of sequence b at row b·T + t).
 * Forward keeps what backward needs besides `out`: z [T, B, H] (after tanh) and the
 * per-step gate s [T, B, H] (paper: k = σ(·); official: the pre-activation f).
 */
#include "cellstack_kernel.h"

/* h_{t−1} of every sequence: rows of `out` (stride T·H) or h0 (stride H). */
#define PREV(t) ((t) ? out + (long)((t) - 1) * H : h0)
#define PREV_STRIDE(t) ((t) ? T * H : H)

/* xp: scratch of T·B·2H floats. */
CS_EXPORT(star_forward)(int T, int B, int F, int H, int official, const float *x, const float *Wk, const float *U,
                        const float *bias, const float *h0, float *out, float *hT, float *z, float *s, float *xp) {
  int n = B * H, G = 2 * H;
  cs_project(T, B, F, G, x, Wk, bias, xp);
  for (long r = 0; r < (long)T * B; r++) {
    cs_copy(z + r * H, xp + r * G, H);
    cs_tanh_inplace(z + r * H, H);
  }
  for (int t = 0; t < T; t++) {
    const float *hp = PREV(t);
    int sp = PREV_STRIDE(t);
    float *f = s + (long)t * n;
    for (int b = 0; b < B; b++) cs_copy(f + b * H, xp + ((long)t * B + b) * G + H, H);
    cs_matmul(B, H, H, hp, sp, 1, U, H, f, H, 1);
    if (!official) cs_sigmoid_inplace(f, n);
    for (int b = 0; b < B; b++) {
      const float *zb = z + (long)t * n + b * H, *hpb = hp + (long)b * sp, *fb = f + b * H;
      float *hb = out + ((long)b * T + t) * H;
      if (!official)
        for (int j = 0; j < H; j++) hb[j] = hpb[j] + fb[j] * (zb[j] - hpb[j]);
      else
        for (int j = 0; j < H; j++) hb[j] = cs_sigmoid(fb[j]) * hpb[j] + (1.0f - cs_sigmoid(fb[j] - 1.0f)) * zb[j];
      cs_tanh_inplace(hb, H);
      cs_copy(hT + b * H, hb, H);
    }
  }
}

/* work: T·B·2H + B·H + H·H + F·2H floats. */
CS_EXPORT(star_backward)(int T, int B, int F, int H, int official, const float *x, const float *Wk, const float *U,
                         const float *h0, const float *out, const float *z, const float *s, const float *dout,
                         const float *dhT, float *dx, float *dWk, float *dU, float *dbias, float *dh0, float *work) {
  int n = B * H, G = 2 * H;
  float *dxp = work, *dh = dxp + (long)T * B * G, *Ut = dh + n, *wt = Ut + H * H;
  cs_transpose(Ut, U, H, H);
  cs_copy(dh, dhT, n);
  for (int t = T - 1; t >= 0; t--) {
    const float *hp = PREV(t);
    int sp = PREV_STRIDE(t);
    for (int b = 0; b < B; b++) {
      const float *h = out + ((long)b * T + t) * H, *hpb = hp + (long)b * sp, *sb = s + (long)t * n + b * H;
      const float *zb = z + (long)t * n + b * H, *dob = dout + ((long)b * T + t) * H;
      float *dz = dxp + ((long)t * B + b) * G, *dg = dz + H, *dhb = dh + b * H;
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
    const float *dg = dxp + (long)t * B * G + H;
    cs_matmul(B, H, H, dg, G, 1, Ut, H, dh, H, 1);
    cs_matmul(H, H, B, hp, 1, sp, dg, G, dU, H, 1);
  }
  cs_copy(dh0, dh, n);
  cs_project_backward(T, B, F, G, x, Wk, dxp, dx, dWk, dbias, wt);
}
