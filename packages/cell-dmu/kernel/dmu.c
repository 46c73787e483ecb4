/*
 * DMU layer over a whole sequence (equations in src/dmu.ts), input projection included.
 * The block has n layers of widths c[0..n-1], c[n-1] = 2d. Parameters arrive packed in
 * the cell's order: kernel1_x [F, c0], kernel1_h [d, c0], bias1 [c0], then per layer
 * l ≥ 1 kernel [c(l−1), c(l)] and bias [c(l)]; their gradients leave in the same layout.
 * Saved for backward, time-major: hs [T, B, d], then per layer l a buffer [T, B, c(l)]
 * holding φ(pre) for hidden layers and [σ(z) | f(h̃)] for the output layer.
 */
#include "cellstack_kernel.h"

enum { LEAKY_RELU, RELU, TANH, SIGMOID, LINEAR };        /* hidden φ, as src/kernel.ts */
enum { F_TANH, F_SIGMOID, F_SOFTSIGN, F_LINEAR };       /* candidate f */

static const float LEAKY_SLOPE = 0.01f;

/* max(x, 0.01x) is LeakyReLU because the slope is below 1. */
CS_INLINE f4 f4leaky(f4 x) { return wasm_f32x4_pmax(x, wasm_f32x4_mul(x, f4s(LEAKY_SLOPE))); }
CS_INLINE float leaky(float x) { return x > 0.0f ? x : LEAKY_SLOPE * x; }
CS_INLINE f4 f4relu(f4 x) { return wasm_f32x4_pmax(x, f4s(0.0f)); }
CS_INLINE float relu(float x) { return x > 0.0f ? x : 0.0f; }
CS_INLINE f4 f4softsign(f4 x) { return wasm_f32x4_div(x, wasm_f32x4_add(f4s(1.0f), wasm_f32x4_abs(x))); }
CS_INLINE float softsign(float x) { return x / (1.0f + __builtin_fabsf(x)); }
CS_MAP_INPLACE(leaky_inplace, f4leaky, leaky)
CS_MAP_INPLACE(relu_inplace, f4relu, relu)
CS_MAP_INPLACE(softsign_inplace, f4softsign, softsign)

static void hidden_inplace(int act, float *a, int n) {
  if (act == LEAKY_RELU) leaky_inplace(a, n);
  else if (act == RELU) relu_inplace(a, n);
  else if (act == TANH) cs_tanh_inplace(a, n);
  else if (act == SIGMOID) cs_sigmoid_inplace(a, n);
}

static void candidate_inplace(int cand, float *g, int n) {
  if (cand == F_TANH) cs_tanh_inplace(g, n);
  else if (cand == F_SIGMOID) cs_sigmoid_inplace(g, n);
  else if (cand == F_SOFTSIGN) softsign_inplace(g, n);
}

/* φ'(pre) from a = φ(pre): a > 0 exactly when pre > 0 (tf's masks: slope/0 at pre = 0). */
static void hidden_backward(int act, float *dpre, const float *a, int n) {
  if (act == LEAKY_RELU)
    for (int i = 0; i < n; i++) dpre[i] = a[i] > 0.0f ? dpre[i] : LEAKY_SLOPE * dpre[i];
  else if (act == RELU)
    for (int i = 0; i < n; i++) dpre[i] = a[i] > 0.0f ? dpre[i] : 0.0f;
  else if (act == TANH)
    for (int i = 0; i < n; i++) dpre[i] *= 1.0f - a[i] * a[i];
  else if (act == SIGMOID)
    for (int i = 0; i < n; i++) dpre[i] *= a[i] * (1.0f - a[i]);
}

/* f'(h̃) from g = f(h̃); softsign: 1/(1+|h̃|)² = (1 − |g|)². */
CS_INLINE float candidate_grad(int cand, float g) {
  if (cand == F_TANH) return 1.0f - g * g;
  if (cand == F_SIGMOID) return g * (1.0f - g);
  if (cand == F_SOFTSIGN) { float r = 1.0f - __builtin_fabsf(g); return r * r; }
  return 1.0f;
}

/* Offsets of each layer's kernel and bias in the packed parameters (layer 0: its h rows). */
static void layout(int n, int F, int d, const int *c, long *W, long *b) {
  long at = (long)F * c[0];
  for (int l = 0; l < n; l++) {
    W[l] = at;
    at += (long)(l ? c[l - 1] : d) * c[l];
    b[l] = at;
    at += c[l];
  }
}

/*
 * C = Aᵀ·B over K rows of A [K, M] and B [K, N], in chunks of 64 rows: cs_matmul streams
 * B once per 4×8 block of C, so B must stay in cache (unchunked, W1's backward took 2× as long).
 */
static void matmul_tn(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc) {
  enum { CHUNK = 64 };
  for (int k = 0; k < K; k += CHUNK) {
    int rows = K - k < CHUNK ? K - k : CHUNK;
    cs_matmul(M, N, rows, A + (long)k * lda, 1, lda, B + (long)k * ldb, ldb, C, ldc, k > 0);
  }
}

CS_EXPORT(dmu_forward)(int T, int B, int F, int d, int n, int act, int cand, const int *c, const float *x,
                       const float *params, const float *h0, float *out, float *hT, float *saved) {
  long wo[n], bo[n];
  float *buf[n];
  layout(n, F, d, c, wo, bo);
  long TB = (long)T * B;
  float *hs = saved;
  for (int l = 0; l < n; l++) buf[l] = (l ? buf[l - 1] + TB * c[l - 1] : hs + TB * d);
  cs_project(T, B, F, c[0], x, params, params + bo[0], buf[0]);
  for (int t = 0; t < T; t++) {
    const float *hp = t ? hs + (t - 1) * (long)B * d : h0;
    float *h = hs + t * (long)B * d;
    cs_matmul(B, c[0], d, hp, d, 1, params + wo[0], c[0], buf[0] + t * (long)B * c[0], c[0], 1);
    for (int l = 1; l < n; l++) {
      float *a = buf[l - 1] + t * (long)B * c[l - 1], *pre = buf[l] + t * (long)B * c[l];
      hidden_inplace(act, a, B * c[l - 1]);
      for (int b = 0; b < B; b++) cs_copy(pre + b * c[l], params + bo[l], c[l]);
      cs_matmul(B, c[l], c[l - 1], a, c[l - 1], 1, params + wo[l], c[l], pre, c[l], 1);
    }
    float *sg = buf[n - 1] + t * (long)B * 2 * d;
    if (cs_host_min > 0 && cand == F_TANH) {
      int args[6] = {(int)sg, 2 * d, (int)hp, d, (int)h, d};
      cs_host_step(CS_STEP_DMU, B, d, args);
      continue;
    }
    for (int b = 0; b < B; b++) {
      float *s = sg + b * 2 * d, *g = s + d, *hb = h + b * d;
      const float *hpb = hp + b * d;
      cs_sigmoid_inplace(s, d);
      candidate_inplace(cand, g, d);
      for (int j = 0; j < d; j++) hb[j] = s[j] * hpb[j] + (1.0f - s[j]) * g[j];
    }
  }
  cs_to_batch_major(out, hs, T, B, d);
  cs_copy(hT, hs + (T - 1) * (long)B * d, B * d);
}

/* work: T·B·Σc + B·d + d·c0 + Σ_{l≥1} c(l−1)·c(l) + F·c0 floats. */
CS_EXPORT(dmu_backward)(int T, int B, int F, int d, int n, int act, int cand, const int *c, const float *x,
                        const float *params, const float *h0, const float *saved, const float *dout, const float *dhT,
                        float *dx, float *dparams, float *dh0, float *work) {
  long wo[n], bo[n];
  const float *buf[n];
  float *dpre[n], *Wt[n];
  layout(n, F, d, c, wo, bo);
  long TB = (long)T * B;
  const float *hs = saved;
  for (int l = 0; l < n; l++) buf[l] = (l ? buf[l - 1] + TB * c[l - 1] : hs + TB * d);
  /* Per-layer pre-activation gradients of every step, so each dW is one matmul over all T·B rows. */
  float *p = work;
  for (int l = 0; l < n; l++) {
    dpre[l] = p;
    p += TB * c[l];
  }
  float *dh = p;
  p += B * d;
  for (int l = 0; l < n; l++) {
    int rows = l ? c[l - 1] : d;
    Wt[l] = p;
    cs_transpose(Wt[l], params + wo[l], rows, c[l]);
    p += rows * c[l];
  }
  cs_copy(dh, dhT, B * d);
  for (int t = T - 1; t >= 0; t--) {
    const float *hp = t ? hs + (t - 1) * (long)B * d : h0;
    const float *sg = buf[n - 1] + t * (long)B * 2 * d;
    float *dlast = dpre[n - 1] + t * (long)B * 2 * d;
    for (int b = 0; b < B; b++) {
      const float *s = sg + b * 2 * d, *g = s + d, *hpb = hp + b * d, *dob = dout + ((long)b * T + t) * d;
      float *dz = dlast + b * 2 * d, *dg = dz + d, *dhb = dh + b * d;
      for (int j = 0; j < d; j++) {
        float dht = dhb[j] + dob[j];
        dz[j] = dht * (hpb[j] - g[j]) * s[j] * (1.0f - s[j]);
        dg[j] = dht * (1.0f - s[j]) * candidate_grad(cand, g[j]);
        dhb[j] = dht * s[j];
      }
    }
    for (int l = n - 1; l >= 1; l--) {
      float *below = dpre[l - 1] + t * (long)B * c[l - 1];
      cs_matmul(B, c[l - 1], c[l], dpre[l] + t * (long)B * c[l], c[l], 1, Wt[l], c[l - 1], below, c[l - 1], 0);
      hidden_backward(act, below, buf[l - 1] + t * (long)B * c[l - 1], B * c[l - 1]);
    }
    cs_matmul(B, d, c[0], dpre[0] + t * (long)B * c[0], c[0], 1, Wt[0], d, dh, d, 1);
  }
  cs_copy(dh0, dh, B * d);
  for (int l = 1; l < n; l++) {
    matmul_tn(c[l - 1], c[l], (int)TB, buf[l - 1], c[l - 1], dpre[l], c[l], dparams + wo[l], c[l]);
    cs_colsum(dparams + bo[l], dpre[l], (int)TB, c[l]);
  }
  /* kernel1_h: h_{t−1}ᵀ·dpre0 summed over steps; steps ≥ 1 read h_{t−1} from hs in one matmul. */
  if (T > 1) matmul_tn(d, c[0], (int)(TB - B), hs, d, dpre[0] + (long)B * c[0], c[0], dparams + wo[0], c[0]);
  cs_matmul(d, c[0], B, h0, 1, d, dpre[0], c[0], dparams + wo[0], c[0], T > 1);
  cs_project_backward(T, B, F, c[0], x, params, dpre[0], dx, dparams, dparams + bo[0], p);
}
