/*
 * SimpleRNN layer over a whole sequence (src/baselines/simple-rnn.ts): h_t = tanh(x_t W + h_{t−1} U + b).
 * Shapes: x [B, T, F], kernel W [F, H], recurrent U [H, H], bias [H], h0 [B, H]; out [B, T, H].
 * Everything stays batch-major: the projection of all B·T rows is one matmul into `out`,
 * and step t reads and writes rows b·T + t (row stride T·H). Backward needs only `out`.
 */
#include "cellstack_kernel.h"

CS_EXPORT(simple_rnn_forward)(int T, int B, int F, int H, const float *x, const float *W, const float *U,
                              const float *bias, const float *h0, float *out, float *hT) {
  long ld = (long)T * H;
  cs_matmul(B * T, H, F, x, F, 1, W, H, out, H, 0);
  for (long r = 0; r < (long)B * T; r++)
    for (int j = 0; j < H; j++) out[r * H + j] += bias[j];
  if (cs_host_min > 0) {
    /* The whole recurrence in one host call (the same products and tanh as the loop below would send it, 2T calls). */
    int args[7] = {(int)out, (int)ld, (int)h0, H, (int)U, H, T};
    cs_host_step(CS_STEP_SIMPLE_RNN, B, H, args);
  } else
    for (int t = 0; t < T; t++) {
      float *h = out + (long)t * H;
      if (t) cs_matmul(B, H, H, h - H, ld, 1, U, H, h, ld, 1);
      else cs_matmul(B, H, H, h0, H, 1, U, H, h, ld, 1);
      for (int b = 0; b < B; b++) cs_tanh_inplace(h + b * ld, H);
    }
  for (int b = 0; b < B; b++) cs_copy(hT + b * H, out + b * ld + ld - H, H);
}

/* work: B·T·H (da, batch-major) + B·H + H·H + H·F floats. */
CS_EXPORT(simple_rnn_backward)(int T, int B, int F, int H, const float *x, const float *W, const float *U,
                               const float *h0, const float *out, const float *dout, const float *dhT, float *dx,
                               float *dW, float *dU, float *dbias, float *dh0, float *work) {
  long ld = (long)T * H;
  float *da = work, *dh = da + (long)B * ld, *Ut = dh + B * H, *Wt = Ut + H * H;
  cs_transpose(Ut, U, H, H);
  cs_transpose(Wt, W, F, H);
  cs_copy(dh, dhT, B * H);
  for (int t = T - 1; t >= 0; t--) {
    if (cs_host_min > 0) {
      int args[8] = {(int)(out + (long)t * H), (int)ld, (int)(dout + (long)t * H), (int)ld, (int)dh, H, (int)(da + (long)t * H), (int)ld};
      cs_host_step(CS_STEP_TANH_GRAD, B, H, args);
    } else
      for (int b = 0; b < B; b++) {
        long r = b * ld + (long)t * H;
        const float *h = out + r, *dob = dout + r;
        float *dab = da + r, *dhb = dh + b * H;
        for (int j = 0; j < H; j++) dab[j] = (dhb[j] + dob[j]) * (1.0f - h[j] * h[j]);
      }
    cs_matmul(B, H, H, da + (long)t * H, ld, 1, Ut, H, dh, H, 0);
  }
  cs_copy(dh0, dh, B * H);
  cs_recurrent_backward(T, B, F, H, H, x, out, h0, da, Wt, dU, dW, dbias, dx);
}
