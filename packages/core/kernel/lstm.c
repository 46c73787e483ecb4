/*
 * LSTM layer over a whole sequence (equations in src/baselines/lstm.ts, gate order i f c̃ o),
 * input projection included. Shapes: x [B, T, F], kernel [F, 4H], recurrent [H, 4H],
 * bias [4H], h0 and c0 [B, H]; out [B, T, H]. Backward needs the gate activations a [T, B, 4H],
 * the cell states cs [T, B, H] and, for the weight gradients, rows [T·B, F + 1 + H] = [x_t, 1, h_{t−1}]
 * (time-major; written when keepRows, else rows is B rows of room); tanh(c) is recomputed. One matmul
 * per step for all four gates. work (forward, on the addon): (F + 1 + H)·4H floats, for [Wk; bias; U].
 * outOutside: out lies outside this memory (on tfjs's heap, RunOptions.outside), which only the host branch's
 * loop may write; hT is then left to the caller, who reads h_T off out.
 */
#include "cellstack_kernel.h"

#define ADD wasm_f32x4_add
#define SUB wasm_f32x4_sub
#define MUL wasm_f32x4_mul

CS_EXPORT(lstm_forward)(int T, int B, int F, int H, int keepRows, int outOutside, const float *x, const float *Wk, const float *U, const float *bias,
                        const float *h0, const float *c0, float *out, float *hT, float *cT, float *a, float *cs, float *rows, float *work) {
  int n = B * H, G = 4 * H, TH = T * H, R = F + 1 + H;
  if (cs_host_min > 0 && (long)B * G * H >= cs_host_min) {
    /* The whole recurrence in one host call, the input projection included (a step's z_t written once, in
       cache): each thread runs every step on its slice of the batch, building its rows as it goes. */
    float *V = work; /* [Wk; bias; U]: rows [x_t, 1, h_{t−1}] times it give z_t in one product */
    cs_copy(V, Wk, F * G);
    cs_copy(V + (long)F * G, bias, G);
    cs_copy(V + (long)(F + 1) * G, U, H * G);
    int args[17] = {(int)a, G, (int)cs, (int)out, TH, (int)h0, H, (int)c0, H, (int)V, G, F, (int)rows, keepRows ? B * R : 0, (int)x, T * F, T};
    cs_host_step(CS_STEP_LSTM_LOOP, B, H, args);
  } else {
    cs_project(T, B, F, G, x, Wk, bias, a);
    for (int t = 0; t < T; t++) {
      // h_{t−1} is row b of h0 or out[b, t−1]: the row stride differs.
      const float *hp = t ? out + (long)(t - 1) * H : h0, *cp = t ? cs + (long)(t - 1) * n : c0;
      float *at = a + (long)t * B * G;
      cs_matmul(B, G, H, hp, t ? TH : H, 1, U, G, at, G, 1);
      if (cs_host_min > 0) {
        cs_host_gates(CS_GATES_LSTM, B, H, at, G, cp, H, cs + (long)t * n, out + (long)t * H, TH);
        continue;
      }
      for (int b = 0; b < B; b++) {
        float *z = at + b * G, *c = cs + (long)t * n + b * H, *h = out + (long)b * TH + (long)t * H;
        const float *cpb = cp + b * H;
        for (int j = 0; j < H; j += 4) {
          int k = H - j < 4 ? H - j : 4;
          f4 i = f4sigmoid(cs_ldk(z + j, k)), f = f4sigmoid(cs_ldk(z + H + j, k));
          f4 g = f4tanh(cs_ldk(z + 2 * H + j, k)), o = f4sigmoid(cs_ldk(z + 3 * H + j, k));
          f4 cj = ADD(MUL(f, cs_ldk(cpb + j, k)), MUL(i, g));
          cs_stk(z + j, i, k), cs_stk(z + H + j, f, k), cs_stk(z + 2 * H + j, g, k), cs_stk(z + 3 * H + j, o, k);
          cs_stk(c + j, cj, k);
          cs_stk(h + j, MUL(o, f4tanh(cj)), k);
        }
      }
    }
    if (keepRows)
      for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
          float *r = rows + ((long)t * B + b) * R;
          cs_copy(r, x + ((long)b * T + t) * F, F);
          r[F] = 1.0f;
          cs_copy(r + F + 1, t ? out + (long)b * TH + (long)(t - 1) * H : h0 + b * H, H);
        }
  }
  if (!outOutside)
    for (int b = 0; b < B; b++) cs_copy(hT + b * H, out + (long)b * TH + (long)(T - 1) * H, H);
  cs_copy(cT, cs + (long)(T - 1) * n, n);
}

/*
 * The gradients of the gate pre-activations overwrite a (each lane is read before it is
 * written). dWk = Σ_t x_tᵀ dz_t, dbias = Σ_t dz_t and dU = Σ_t h_{t−1}ᵀ dz_t are then one product
 * over all T·B of the forward's rows [x_t, 1, h_{t−1}] against dz, so dz (6.5 MB at W1) streams
 * from memory once, not three times, in a long reduction the addon splits over threads. dx only
 * when wantDx (a model's input needs none). work: 2·B·H + 4H·H + F·4H + (F + 1 + H)·4H floats.
 */
CS_EXPORT(lstm_backward)(int T, int B, int F, int H, int wantDx, const float *Wk, const float *U, const float *c0,
                         const float *rows, float *a, const float *cs, const float *dout, const float *dhT,
                         const float *dcT, float *dx, float *dWk, float *dU, float *dbias, float *dh0, float *dc0,
                         float *work) {
  int n = B * H, G = 4 * H, TH = T * H, R = F + 1 + H;
  float *dh = work, *dc = dh + n, *Ut = dc + n, *wt = Ut + (long)G * H, *sums = wt + (long)F * G;
  const f4 one = f4s(1.0f);
  cs_transpose(Ut, U, H, G);
  cs_copy(dh, dhT, n);
  cs_copy(dc, dcT, n);
  if (cs_host_min > 0 && (long)B * G * H >= cs_host_min) {
    int args[14] = {(int)a, G, (int)cs, (int)c0, H, (int)dout, TH, (int)dh, H, (int)dc, H, (int)Ut, H, T};
    cs_host_step(CS_STEP_LSTM_GRAD_LOOP, B, H, args);
  } else {
    for (int t = T - 1; t >= 0; t--) {
      const float *cp = t ? cs + (long)(t - 1) * n : c0;
      float *dzt = a + (long)t * B * G;
      if (cs_host_min > 0) {
        int args[12] = {(int)dzt, G, (int)(cs + (long)t * n), H, (int)cp, H, (int)(dout + (long)t * H), TH, (int)dh, H, (int)dc, H};
        cs_host_step(CS_STEP_LSTM_GRAD, B, H, args);
      } else
        for (int b = 0; b < B; b++) {
          const float *c = cs + (long)t * n + b * H, *cpb = cp + b * H, *dob = dout + (long)b * TH + (long)t * H;
          float *d = dzt + b * G, *dhb = dh + b * H, *dcb = dc + b * H;
          for (int j = 0; j < H; j += 4) {
            int k = H - j < 4 ? H - j : 4;
            f4 i = cs_ldk(d + j, k), f = cs_ldk(d + H + j, k), g = cs_ldk(d + 2 * H + j, k), o = cs_ldk(d + 3 * H + j, k);
            f4 tc = f4tanh(cs_ldk(c + j, k));
            f4 dhj = ADD(cs_ldk(dhb + j, k), cs_ldk(dob + j, k));
            f4 dcj = ADD(cs_ldk(dcb + j, k), MUL(MUL(dhj, o), SUB(one, MUL(tc, tc))));
            cs_stk(d + j, MUL(MUL(dcj, g), MUL(i, SUB(one, i))), k);
            cs_stk(d + H + j, MUL(MUL(dcj, cs_ldk(cpb + j, k)), MUL(f, SUB(one, f))), k);
            cs_stk(d + 2 * H + j, MUL(MUL(dcj, i), SUB(one, MUL(g, g))), k);
            cs_stk(d + 3 * H + j, MUL(MUL(dhj, tc), MUL(o, SUB(one, o))), k);
            cs_stk(dcb + j, MUL(dcj, f), k);
          }
        }
      cs_matmul(B, H, G, dzt, G, 1, Ut, H, dh, H, 0);
    }
  }
  cs_matmul(R, G, T * B, rows, 1, R, a, G, sums, G, 0);
  cs_copy(dWk, sums, F * G);
  cs_copy(dbias, sums + (long)F * G, G);
  cs_copy(dU, sums + (long)(F + 1) * G, H * G);
  cs_copy(dh0, dh, n);
  cs_copy(dc0, dc, n);
  if (!wantDx) return;
  /* dx one product a step: [B, G] blocks of dz against Wkᵀ, rows T·F apart in dx. */
  cs_transpose(wt, Wk, F, G);
  cs_matmul_batch(T, B * G, 0, F, B, F, G, a, G, 1, wt, F, dx, T * F, 0);
}
