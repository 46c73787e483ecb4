/*
 * URLSTM layer over a whole sequence (equations in src/ur-lstm.ts, gate mechanism in
 * gates.h), input projection included. Shapes: x [B, T, F], kernel [F, G], recurrent
 * [H, G], bias [G] (the projection bias: linear bias ± gateBias), h0, c0 [B, H], with
 * G = width + 2H columns: gate block | o | u. Zoneout rates zc, zh: mc / mh are the
 * training keep-masks [T, B, H], or null for the inference expectation. Forward keeps
 * acts [T, B, G] (activated columns) and cs, hs [T, B, H] (states after zoneout); the
 * un-zoned c is recomputed in backward.
 */
#include "gates.h"

/* Row scratch: E, I, c_new, tanh(c_new), dE, dI, then gate work 4M + H. */
#define ROW_WORK(H) (11 * (H))

/* The un-zoned new cell state of one row: E c + I u (untied) or u + E (c − u) (tied input 1 − E). */
static void cell_update(float *cn, int H, int untied, const float *E, const float *I, const float *cp, const float *u) {
  if (untied)
    for (int j = 0; j < H; j++) cn[j] = E[j] * cp[j] + I[j] * u[j];
  else
    for (int j = 0; j < H; j++) cn[j] = u[j] + E[j] * (cp[j] - u[j]);
}

/* work: ROW_WORK(H) floats. */
CS_EXPORT(urlstm_forward)(int T, int B, int F, int H, int refine, int cumax, int chunk, float zc, float zh, const float *x,
                          const float *Wk, const float *U, const float *bias, const float *h0, const float *c0,
                          const float *mc, const float *mh, float *out, float *hT, float *cT, float *acts, float *cs,
                          float *hs, float *work) {
  ur_layout L = ur_layout_of(H, refine, cumax, chunk, 1);
  int G = L.width + 2 * H, n = B * H;
  float *E = work, *I = E + H, *cn = I + H, *tc = cn + H, *gw = work + 6 * H;
  cs_project(T, B, F, G, x, Wk, bias, acts);
  for (int t = 0; t < T; t++) {
    const float *hp = t ? hs + (long)(t - 1) * n : h0, *cp = t ? cs + (long)(t - 1) * n : c0;
    float *at = acts + (long)t * B * G;
    cs_matmul(B, G, H, hp, H, 1, U, G, at, G, 1);
    /* The default refine gate without zoneout masks: the step on the host (its `step` kind 7). */
    if (cs_host_min > 0 && refine == UR_REFINE && !cumax && !mc && !mh) {
      int args[12] = {(int)at, G, (int)cp, H, (int)hp, H, (int)(cs + (long)t * n), H, (int)(hs + (long)t * n), H};
      __builtin_memcpy(args + 10, &zc, 4);
      __builtin_memcpy(args + 11, &zh, 4);
      cs_host_step(CS_STEP_URLSTM, B, H, args);
      continue;
    }
    for (int b = 0; b < B; b++) {
      float *a = at + (long)b * G;
      const float *o = a + L.width, *u = o + H, *cpb = cp + b * H, *hpb = hp + b * H;
      const float *kc = mc ? mc + (long)t * n + b * H : 0, *kh = mh ? mh + (long)t * n + b * H : 0;
      float *c2 = cs + (long)t * n + b * H, *h2 = hs + (long)t * n + b * H;
      ur_activate(&L, a, H);
      cs_tanh_inplace(a + L.width + H, H);
      int untied = ur_combine(&L, a, E, I, gw);
      cell_update(cn, H, untied, E, I, cpb, u);
      cs_copy(tc, cn, H);
      cs_tanh_inplace(tc, H);
      for (int j = 0; j < H; j++) {
        float hn = o[j] * tc[j];
        c2[j] = zc > 0 ? cn[j] + (kc ? kc[j] : zc) * (cpb[j] - cn[j]) : cn[j];
        h2[j] = zh > 0 ? hn + (kh ? kh[j] : zh) * (hpb[j] - hn) : hn;
      }
    }
  }
  cs_to_batch_major(out, hs, T, B, H);
  cs_copy(hT, hs + (long)(T - 1) * n, n);
  cs_copy(cT, cs + (long)(T - 1) * n, n);
}

/* work: T·B·G + 2·B·H + G·H + F·G + ROW_WORK(H) floats. */
CS_EXPORT(urlstm_backward)(int T, int B, int F, int H, int refine, int cumax, int chunk, float zc, float zh,
                           const float *x, const float *Wk, const float *U, const float *h0, const float *c0,
                           const float *mc, const float *mh, const float *acts, const float *cs, const float *hs,
                           const float *dout, const float *dhT, const float *dcT, float *dx, float *dWk, float *dU,
                           float *dbias, float *dh0, float *dc0, float *work) {
  ur_layout L = ur_layout_of(H, refine, cumax, chunk, 1);
  int G = L.width + 2 * H, n = B * H;
  float *dz = work, *dh = dz + (long)T * B * G, *dc = dh + n, *Ut = dc + n, *wt = Ut + G * H, *row = wt + F * G;
  float *E = row, *I = E + H, *cn = I + H, *tc = cn + H, *dE = tc + H, *dI = dE + H, *gw = dI + H;
  cs_transpose(Ut, U, H, G);
  cs_copy(dh, dhT, n);
  cs_copy(dc, dcT, n);
  for (int t = T - 1; t >= 0; t--) {
    const float *hp = t ? hs + (long)(t - 1) * n : h0, *cp = t ? cs + (long)(t - 1) * n : c0;
    float *dzt = dz + (long)t * B * G;
    for (int b = 0; b < B; b++) {
      const float *a = acts + ((long)t * B + b) * G, *o = a + L.width, *u = o + H, *cpb = cp + b * H;
      const float *kc = mc ? mc + (long)t * n + b * H : 0, *kh = mh ? mh + (long)t * n + b * H : 0;
      const float *dob = dout + ((long)b * T + t) * H;
      float *dza = dzt + (long)b * G, *dzo = dza + L.width, *dzu = dzo + H, *dhb = dh + b * H, *dcb = dc + b * H;
      int untied = ur_combine(&L, a, E, I, gw);
      cell_update(cn, H, untied, E, I, cpb, u);
      cs_copy(tc, cn, H);
      cs_tanh_inplace(tc, H);
      for (int j = 0; j < H; j++) {
        float kcj = zc > 0 ? (kc ? kc[j] : zc) : 0, khj = zh > 0 ? (kh ? kh[j] : zh) : 0;
        float dh2 = dhb[j] + dob[j], dhn = dh2 * (1.0f - khj);
        float dcn = dcb[j] * (1.0f - kcj) + dhn * o[j] * (1.0f - tc[j] * tc[j]), du;
        dzo[j] = dhn * tc[j] * o[j] * (1.0f - o[j]);
        if (untied) {
          dE[j] = dcn * cpb[j];
          dI[j] = dcn * u[j];
          du = dcn * I[j];
        } else {
          dE[j] = dcn * (cpb[j] - u[j]);
          du = dcn * (1.0f - E[j]);
        }
        dzu[j] = du * (1.0f - u[j] * u[j]);
        dcb[j] = dcb[j] * kcj + dcn * E[j];
        dhb[j] = dh2 * khj;
      }
      ur_gates_backward(&L, a, dE, dI, dza, gw);
    }
    cs_matmul(B, H, G, dzt, G, 1, Ut, H, dh, H, 1);
    /* Per step, not one product over all steps: dz_t stays in cache (one long product is ~5x slower). */
    cs_matmul(H, G, B, hp, 1, H, dzt, G, dU, G, 1);
  }
  cs_copy(dh0, dh, n);
  cs_copy(dc0, dc, n);
  cs_project_backward(T, B, F, G, x, Wk, dz, dx, dWk, dbias, wt);
}
