/*
 * STAR layer over a whole sequence (equations in src/star.ts), input projection
 * included so no per-step tf op remains. Shapes: x [B, T, F], kernel [F, 2H] = [W_z | W_x],
 * recurrent [H, H], bias [2H], h0 [B, H]; out [B, T, H]. Forward keeps what backward
 * needs: xp [T, B, 2H] (z after tanh | gate input), per-step gate s [T, B, H] (paper:
 * k = σ(·); official: the pre-activation f) and hs [T, B, H].
 */
#include "cellstack_kernel.h"

CS_EXPORT(star_forward)(int T, int B, int F, int H, int official, const float *x, const float *Wk, const float *U,
                        const float *bias, const float *h0, float *out, float *hT, float *xp, float *s, float *hs) {
  int n = B * H, G = 2 * H;
  cs_project(T, B, F, G, x, Wk, bias, xp);
  for (long r = 0; r < (long)T * B; r++) cs_tanh_inplace(xp + r * G, H);
  for (int t = 0; t < T; t++) {
    const float *hp = t ? hs + (long)(t - 1) * n : h0;
    float *f = s + (long)t * n, *h = hs + (long)t * n;
    for (int b = 0; b < B; b++) cs_copy(f + b * H, xp + ((long)t * B + b) * G + H, H);
    cs_matmul(B, H, H, hp, H, 1, U, H, f, H, 1);
    if (!official) cs_sigmoid_inplace(f, n);
    for (int b = 0; b < B; b++) {
      const float *z = xp + ((long)t * B + b) * G, *hpb = hp + b * H, *fb = f + b * H;
      float *hb = h + b * H;
      if (!official)
        for (int j = 0; j < H; j++) hb[j] = hpb[j] + fb[j] * (z[j] - hpb[j]);
      else
        for (int j = 0; j < H; j++) hb[j] = cs_sigmoid(fb[j]) * hpb[j] + (1.0f - cs_sigmoid(fb[j] - 1.0f)) * z[j];
    }
    cs_tanh_inplace(h, n);
  }
  cs_to_batch_major(out, hs, T, B, H);
  cs_copy(hT, hs + (long)(T - 1) * n, n);
}

/* work: T·B·2H + B·H + H·H + F·2H floats. */
CS_EXPORT(star_backward)(int T, int B, int F, int H, int official, const float *x, const float *Wk, const float *U,
                         const float *h0, const float *xp, const float *s, const float *hs, const float *dout,
                         const float *dhT, float *dx, float *dWk, float *dU, float *dbias, float *dh0, float *work) {
  int n = B * H, G = 2 * H;
  float *dxp = work, *dh = dxp + (long)T * B * G, *Ut = dh + n, *wt = Ut + H * H;
  cs_transpose(Ut, U, H, H);
  cs_copy(dh, dhT, n);
  for (int t = T - 1; t >= 0; t--) {
    const float *hp = t ? hs + (long)(t - 1) * n : h0;
    for (int b = 0; b < B; b++) {
      const float *h = hs + (long)t * n + b * H, *hpb = hp + b * H, *sb = s + (long)t * n + b * H;
      const float *z = xp + ((long)t * B + b) * G, *dob = dout + ((long)b * T + t) * H;
      float *dz = dxp + ((long)t * B + b) * G, *dg = dz + H, *dhb = dh + b * H;
      for (int j = 0; j < H; j++) {
        float da = (dhb[j] + dob[j]) * (1.0f - h[j] * h[j]), dzj;
        if (!official) {
          float k = sb[j];
          dzj = da * k;
          dg[j] = da * (z[j] - hpb[j]) * k * (1.0f - k);
          dhb[j] = da * (1.0f - k);
        } else {
          float s1 = cs_sigmoid(sb[j]), s2 = cs_sigmoid(sb[j] - 1.0f);
          dzj = da * (1.0f - s2);
          dg[j] = da * (hpb[j] * s1 * (1.0f - s1) - z[j] * s2 * (1.0f - s2));
          dhb[j] = da * s1;
        }
        dz[j] = dzj * (1.0f - z[j] * z[j]);
      }
    }
    const float *dg = dxp + (long)t * B * G + H;
    cs_matmul(B, H, H, dg, G, 1, Ut, H, dh, H, 1);
    cs_matmul(H, H, B, hp, 1, H, dg, G, dU, H, 1);
  }
  cs_copy(dh0, dh, n);
  cs_project_backward(T, B, F, G, x, Wk, dxp, dx, dWk, dbias, wt);
}
