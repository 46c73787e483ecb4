/*
 * GRU layer over a whole sequence (equations in src/baselines/gru.ts: reset before the
 * recurrent product), input projection included. Shapes: x [B, T, F], kernel [F, 3H] =
 * [W_z | W_r | W_h], recurrentGates [H, 2H], recurrentCandidate [H, H], bias [3H],
 * h0 [B, H]; out [B, T, H]. Backward needs, besides out (read in place with strides, as
 * is h_{t−1} in the forward matmuls), the activations a [T, B, 3H] (z | r | h̃); r ∘ h is
 * recomputed.
 */
#include "cellstack_kernel.h"

#define ADD wasm_f32x4_add
#define SUB wasm_f32x4_sub
#define MUL wasm_f32x4_mul

CS_EXPORT(gru_forward)(int T, int B, int F, int H, const float *x, const float *Wk, const float *Ug, const float *Uc,
                       const float *bias, const float *h0, float *out, float *hT, float *a) {
  int G = 3 * H, TH = T * H;
  cs_project(T, B, F, G, x, Wk, bias, a);
  if (cs_host_min > 0 && (long)B * 2 * H * H >= cs_host_min) {
    /* The whole recurrence in one host call: each thread runs every step on its slice of the batch. */
    int args[11] = {(int)a, G, (int)out, TH, (int)h0, H, (int)Ug, 2 * H, (int)Uc, H, T};
    cs_host_step(CS_STEP_GRU_LOOP, B, H, args);
  } else {
    for (int t = 0; t < T; t++) {
      // h_{t−1} is row b of h0 or out[b, t−1]: the row stride differs.
      const float *hp = t ? out + (long)(t - 1) * H : h0;
      int sp = t ? TH : H;
      float *at = a + (long)t * B * G, *h = out + (long)t * H;
      cs_matmul(B, 2 * H, H, hp, sp, 1, Ug, 2 * H, at, G, 1);
      // z and r in place; r ∘ h_{t−1} goes where h_t will be written.
      if (cs_host_min > 0) cs_host_gates(CS_GATES_GRU_RESET, B, H, at, G, hp, sp, 0, h, TH);
      else for (int b = 0; b < B; b++) {
        float *zr = at + b * G, *rh = h + (long)b * TH;
        cs_sigmoid_inplace(zr, 2 * H);
        for (int j = 0; j < H; j += 4) {
          int k = H - j < 4 ? H - j : 4;
          cs_stk(rh + j, MUL(cs_ldk(zr + H + j, k), cs_ldk(hp + (long)b * sp + j, k)), k);
        }
      }
      cs_matmul(B, H, H, h, TH, 1, Uc, H, at + 2 * H, G, 1);
      if (cs_host_min > 0) {
        cs_host_gates(CS_GATES_GRU_BLEND, B, H, at, G, hp, sp, 0, h, TH);
        continue;
      }
      for (int b = 0; b < B; b++) {
        float *zr = at + b * G, *hb = h + (long)b * TH;
        const float *hpb = hp + (long)b * sp;
        for (int j = 0; j < H; j += 4) {
          int k = H - j < 4 ? H - j : 4;
          f4 z = cs_ldk(zr + j, k), hh = f4tanh(cs_ldk(zr + 2 * H + j, k)), hpj = cs_ldk(hpb + j, k);
          cs_stk(zr + 2 * H + j, hh, k);
          cs_stk(hb + j, ADD(hh, MUL(z, SUB(hpj, hh))), k);
        }
      }
    }
  }
  for (int b = 0; b < B; b++) cs_copy(hT + b * H, out + (long)b * TH + (long)(T - 1) * H, H);
}

/*
 * The gradients of the pre-activations overwrite a (each lane is read before it is
 * written), then feed the input projection's backward. dU_{zr} = Σ_t h_{t−1}ᵀ dz_t is one
 * product over all steps after the loop, on a time-major copy of h_1 … h_{T−1} (as in
 * lstm.c); dU_h needs r ∘ h_{t−1}, which is not kept, so it stays a product a step.
 * work: 3·B·H + 3H·H + F·3H + (T−1)·B·H floats.
 */
CS_EXPORT(gru_backward)(int T, int B, int F, int H, const float *x, const float *Wk, const float *Ug, const float *Uc,
                        const float *h0, const float *out, float *a, const float *dout, const float *dhT,
                        float *dx, float *dWk, float *dUg, float *dUc, float *dbias, float *dh0, float *work) {
  int n = B * H, G = 3 * H, TH = T * H;
  float *dh = work, *drh = dh + n, *rh = drh + n, *Ugt = rh + n, *Uct = Ugt + 2 * H * H,
        *wt = Uct + H * H, *hs = wt + (long)F * G;
  const f4 one = f4s(1.0f);
  cs_transpose(Ugt, Ug, H, 2 * H);
  cs_transpose(Uct, Uc, H, H);
  cs_copy(dh, dhT, n);
  for (int t = T - 1; t >= 0; t--) {
    const float *hp = t ? out + (long)(t - 1) * H : h0;
    int sp = t ? TH : H;
    float *dat = a + (long)t * B * G;
    // Through h_t = h̃ + z ∘ (h_{t−1} − h̃): the update gate, the candidate's pre-activation, h_{t−1} directly.
    for (int b = 0; b < B; b++) {
      const float *hpb = hp + (long)b * sp, *dob = dout + (long)b * TH + (long)t * H;
      float *d = dat + b * G, *dhb = dh + b * H, *rhb = rh + b * H;
      for (int j = 0; j < H; j += 4) {
        int k = H - j < 4 ? H - j : 4;
        f4 z = cs_ldk(d + j, k), r = cs_ldk(d + H + j, k), hh = cs_ldk(d + 2 * H + j, k), hpj = cs_ldk(hpb + j, k);
        f4 dhj = ADD(cs_ldk(dhb + j, k), cs_ldk(dob + j, k));
        cs_stk(d + j, MUL(MUL(dhj, SUB(hpj, hh)), MUL(z, SUB(one, z))), k);
        cs_stk(d + 2 * H + j, MUL(MUL(dhj, SUB(one, z)), SUB(one, MUL(hh, hh))), k);
        cs_stk(dhb + j, MUL(dhj, z), k);
        cs_stk(rhb + j, MUL(r, hpj), k);
      }
    }
    // Through the candidate's (r ∘ h_{t−1}) U_h: the reset gate (r is overwritten by its gradient) and h_{t−1} again.
    cs_matmul(B, H, H, dat + 2 * H, G, 1, Uct, H, drh, H, 0);
    cs_matmul(H, H, B, rh, 1, H, dat + 2 * H, G, dUc, H, 1);
    for (int b = 0; b < B; b++) {
      const float *hpb = hp + (long)b * sp, *drhb = drh + b * H;
      float *dr = dat + b * G + H, *dhb = dh + b * H;
      for (int j = 0; j < H; j += 4) {
        int k = H - j < 4 ? H - j : 4;
        f4 rj = cs_ldk(dr + j, k), drhj = cs_ldk(drhb + j, k);
        cs_stk(dr + j, MUL(MUL(drhj, cs_ldk(hpb + j, k)), MUL(rj, SUB(one, rj))), k);
        cs_stk(dhb + j, ADD(cs_ldk(dhb + j, k), MUL(drhj, rj)), k);
      }
    }
    // Through the gates' h_{t−1} U_{zr}.
    cs_matmul(B, H, 2 * H, dat, G, 1, Ugt, H, dh, H, 1);
  }
  cs_matmul(H, 2 * H, B, h0, 1, H, a, G, dUg, 2 * H, 1);
  if (T > 1) {
    for (int t = 0; t < T - 1; t++)
      for (int b = 0; b < B; b++) cs_copy(hs + ((long)t * B + b) * H, out + (long)b * TH + (long)t * H, H);
    cs_matmul(H, 2 * H, (T - 1) * B, hs, 1, H, a + (long)B * G, G, dUg, 2 * H, 1);
  }
  cs_copy(dh0, dh, n);
  cs_project_backward(T, B, F, G, x, Wk, a, dx, dWk, dbias, wt);
}
