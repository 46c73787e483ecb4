/*
 * URGRU layer over a whole sequence (equations in src/ur-gru.ts, gate mechanism in
 * gates.h), input projection included. Shapes: x [B, T, F], kernel [F, G], recurrentGates
 * [H, Ng], recurrentCandidate [H, H], bias [G] (the projection bias: linear bias ±
 * gateBias), h0 [B, H], with Ng = width + H (gate block | reset ρ) and G = Ng + H (then the
 * candidate). Zoneout rate zh: mh is the training keep-mask [T, B, H], or null for the
 * inference expectation. Forward keeps acts [T, B, G] (activated columns, candidate after
 * tanh) and hs [T, B, H] (states after zoneout).
 */
#include "gates.h"

/* Row scratch: E, I, dE, dI, then gate work 4M + H. */
#define ROW_WORK(H) (9 * (H))

/* work: B·H + ROW_WORK(H) floats. */
CS_EXPORT(urgru_forward)(int T, int B, int F, int H, int refine, int cumax, int chunk, float zh, const float *x,
                         const float *Wk, const float *Ug, const float *Uc, const float *bias, const float *h0,
                         const float *mh, float *out, float *hT, float *acts, float *hs, float *work) {
  ur_layout L = ur_layout_of(H, refine, cumax, chunk, 0);
  int Ng = L.width + H, G = Ng + H, n = B * H;
  float *rh = work, *E = rh + n, *I = E + H, *gw = I + H;
  cs_project(T, B, F, G, x, Wk, bias, acts);
  for (int t = 0; t < T; t++) {
    const float *hp = t ? hs + (long)(t - 1) * n : h0;
    float *at = acts + (long)t * B * G;
    cs_matmul(B, Ng, H, hp, H, 1, Ug, Ng, at, G, 1);
    for (int b = 0; b < B; b++) {
      float *a = at + (long)b * G;
      const float *rho = a + L.width, *hpb = hp + b * H;
      ur_activate(&L, a, H);
      for (int j = 0; j < H; j++) rh[b * H + j] = rho[j] * hpb[j];
    }
    cs_matmul(B, H, H, rh, H, 1, Uc, H, at + Ng, G, 1);
    for (int b = 0; b < B; b++) {
      float *a = at + (long)b * G, *hh = a + Ng, *h2 = hs + (long)t * n + b * H;
      const float *hpb = hp + b * H, *kh = mh ? mh + (long)t * n + b * H : 0;
      cs_tanh_inplace(hh, H);
      int untied = ur_combine(&L, a, E, I, gw);
      for (int j = 0; j < H; j++) {
        float hn = untied ? E[j] * hpb[j] + I[j] * hh[j] : hh[j] + E[j] * (hpb[j] - hh[j]);
        h2[j] = zh > 0 ? hn + (kh ? kh[j] : zh) * (hpb[j] - hn) : hn;
      }
    }
  }
  cs_to_batch_major(out, hs, T, B, H);
  cs_copy(hT, hs + (long)(T - 1) * n, n);
}

/* work: T·B·G + 3·B·H + Ng·H + H·H + F·G + ROW_WORK(H) floats. */
CS_EXPORT(urgru_backward)(int T, int B, int F, int H, int refine, int cumax, int chunk, float zh, const float *x,
                          const float *Wk, const float *Ug, const float *Uc, const float *h0, const float *mh,
                          const float *acts, const float *hs, const float *dout, const float *dhT, float *dx,
                          float *dWk, float *dUg, float *dUc, float *dbias, float *dh0, float *work) {
  ur_layout L = ur_layout_of(H, refine, cumax, chunk, 0);
  int Ng = L.width + H, G = Ng + H, n = B * H;
  float *dz = work, *rh = dz + (long)T * B * G, *drh = rh + n, *dh = drh + n, *Ugt = dh + n;
  float *Uct = Ugt + Ng * H, *wt = Uct + H * H, *E = wt + F * G, *I = E + H, *dE = I + H, *dI = dE + H, *gw = dI + H;
  cs_transpose(Ugt, Ug, H, Ng);
  cs_transpose(Uct, Uc, H, H);
  cs_copy(dh, dhT, n);
  for (int t = T - 1; t >= 0; t--) {
    const float *hp = t ? hs + (long)(t - 1) * n : h0;
    float *dzt = dz + (long)t * B * G;
    for (int b = 0; b < B; b++) {
      const float *a = acts + ((long)t * B + b) * G, *rho = a + L.width, *hh = a + Ng, *hpb = hp + b * H;
      const float *kh = mh ? mh + (long)t * n + b * H : 0, *dob = dout + ((long)b * T + t) * H;
      float *dza = dzt + (long)b * G, *dhb = dh + b * H;
      int untied = ur_combine(&L, a, E, I, gw);
      for (int j = 0; j < H; j++) {
        float khj = zh > 0 ? (kh ? kh[j] : zh) : 0, dh2 = dhb[j] + dob[j], dhn = dh2 * (1.0f - khj), dhh;
        if (untied) {
          dE[j] = dhn * hpb[j];
          dI[j] = dhn * hh[j];
          dhh = dhn * I[j];
        } else {
          dE[j] = dhn * (hpb[j] - hh[j]);
          dhh = dhn * (1.0f - E[j]);
        }
        dza[Ng + j] = dhh * (1.0f - hh[j] * hh[j]);
        dhb[j] = dh2 * khj + dhn * E[j];
        rh[b * H + j] = rho[j] * hpb[j];
      }
      ur_gates_backward(&L, a, dE, dI, dza, gw);
    }
    /* Through the candidate's (ρ ∘ h) U_c into ρ and h, then the gate block's h U_g. */
    cs_matmul(B, H, H, dzt + Ng, G, 1, Uct, H, drh, H, 0);
    for (int b = 0; b < B; b++) {
      const float *rho = acts + ((long)t * B + b) * G + L.width, *hpb = hp + b * H, *d = drh + b * H;
      float *dzr = dzt + (long)b * G + L.width, *dhb = dh + b * H;
      for (int j = 0; j < H; j++) {
        dzr[j] = d[j] * hpb[j] * rho[j] * (1.0f - rho[j]);
        dhb[j] += d[j] * rho[j];
      }
    }
    cs_matmul(B, H, Ng, dzt, G, 1, Ugt, H, dh, H, 1);
    /* Weight gradients per step, while dz_t is in cache: dU_c += (ρ ∘ h_{t−1})ᵀ da_t, dU_g += h_{t−1}ᵀ dz_t. */
    cs_matmul(H, H, B, rh, 1, H, dzt + Ng, G, dUc, H, 1);
    cs_matmul(H, Ng, B, hp, 1, H, dzt, G, dUg, Ng, 1);
  }
  cs_copy(dh0, dh, n);
  cs_project_backward(T, B, F, G, x, Wk, dz, dx, dWk, dbias, wt);
}
