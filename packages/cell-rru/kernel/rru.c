/*
 * RRU layer over a whole sequence (equations in src/rru.ts), input projection included.
 * Shapes: x [B, T, m]; Wx [m, g], Wh [n, g], bj [g]; Wk [L−1, g, g], bk [L−1, g] (the
 * Eq. 2 layers packed); Wco [g, n+p] (candidate columns first), bco [n+p]; S [n];
 * Z [zn] (zn = 1: one scalar); h0 [B, n]; out [B, T, p].
 * norm: 0 none, 1 rms (mean of squares), 2 l2 (sum of squares).
 * drop: 0 no dropout, 1 one mask for the whole sequence, 2 a fresh mask every step; masks come
 * from cs_dropout_mask(seed, threshold, scale) over [B, g] (drop 1) or [T, B, g] (drop 2), as
 * the generic path's dropoutMask draws them, and backward draws them again.
 * Forward keeps what backward needs: vs [T, B, g] (normalised first-layer input),
 * rs [T, B] (its 1/√(·) scale), js [L−1, T, B, g] (Eq. 2 outputs), cs [T, B, n]
 * (candidates, for dZ) and hs [T, B, n]. Dropped d = j·mask is recomputed.
 */
#include "cellstack_kernel.h"

#define EPS 1e-6f

static void sigmoid_scaled(float *decay, const float *S, float sScale, int n) {
  for (int i = 0; i < n; i++) decay[i] = sScale * S[i];
  cs_sigmoid_inplace(decay, n);
}

static void relu_to(float *dst, const float *src, long n) {
  for (long i = 0; i < n; i++) dst[i] = src[i] > 0.0f ? src[i] : 0.0f;
}

/* rows[r, :] += bias for `rows` rows of width k with row stride ld. */
static void add_bias(float *x, const float *bias, int rows, int k, long ld) {
  for (int r = 0; r < rows; r++)
    for (int j = 0; j < k; j++) x[r * ld + j] += bias[j];
}

/* 1/√(cf·Σv² + eps) into s, v scaled by it, per row of g. */
static void normalize_rows(float *v, float *s, int B, int g, float cf) {
  for (int b = 0; b < B; b++) {
    float *vb = v + (long)b * g, ss = 0.0f;
    for (int j = 0; j < g; j++) ss += vb[j] * vb[j];
    float sb = 1.0f / __builtin_sqrtf(ss * cf + EPS);
    s[b] = sb;
    for (int j = 0; j < g; j++) vb[j] *= sb;
  }
}

enum { DROP_NONE, DROP_SEQUENCE, DROP_STEP };

/* Step t's dropout mask in mk, or null without dropout; a per-sequence mask is drawn on the first step visited. */
static const float *step_mask(float *mk, int drop, int t, int first, long Bg, unsigned seed, unsigned threshold, float scale) {
  if (drop == DROP_NONE) return 0;
  if (drop == DROP_STEP) cs_dropout_mask(mk, (int)Bg, seed, (unsigned)t * (unsigned)Bg, threshold, scale); /* mod 2^32, as dropoutMask */
  else if (first) cs_dropout_mask(mk, (int)Bg, seed, 0u, threshold, scale);
  return mk;
}

/* d = (j or ReLU(v)) · mask: the last ReLU layer after dropout. */
static void dropped(float *d, const float *j, const float *v, const float *mask, long n) {
  if (j) cs_copy(d, j, (int)n);
  else relu_to(d, v, n);
  if (mask)
    for (long i = 0; i < n; i++) d[i] *= mask[i];
}

/*
 * C[M, N] += Aᵀ·B over K contiguous rows (A [K, M], B [K, N]), in chunks of rows that
 * keep B's rows in cache: one pass over all K rows per 4 rows of C runs ~2× slower.
 */
static void matmul_tn(int M, int N, int K, const float *A, const float *B, float *C) {
  for (int k = 0; k < K; k += 256) {
    int rows = K - k < 256 ? K - k : 256;
    cs_matmul(M, N, rows, A + (long)k * M, 1, M, B + (long)k * N, N, C, N, 1);
  }
}

static float norm_factor(int norm, int g) { return norm == 1 ? 1.0f / (float)g : 1.0f; }

/* work: n + 2·B·g floats. */
CS_EXPORT(rru_forward)(int T, int B, int m, int n, int p, int g, int L, int norm, float sScale, int zn, const float *x,
                       const float *Wx, const float *Wh, const float *bj, const float *Wk, const float *bk,
                       const float *Wco, const float *bco, const float *S, const float *Z, const float *h0,
                       int drop, unsigned seed, unsigned threshold, float scale, float *out, float *hT, float *vs, float *rs, float *js,
                       float *cs, float *hs, float *work) {
  int N = n + p;
  long Bg = (long)B * g, Bn = (long)B * n;
  float *decay = work, *d = decay + n, *mk = d + Bg;
  sigmoid_scaled(decay, S, sScale, n);
  cs_project(T, B, m, g, x, Wx, bj, vs);
  for (int t = 0; t < T; t++) {
    const float *hp = t ? hs + (t - 1) * Bn : h0, *jin = 0;
    float *v = vs + t * Bg, *c = cs + t * Bn, *h = hs + t * Bn;
    cs_matmul(B, g, n, hp, n, 1, Wh, g, v, g, 1);
    if (norm) normalize_rows(v, rs + (long)t * B, B, g, norm_factor(norm, g));
    for (int k = 1; k < L; k++) {
      float *jo = js + ((long)(k - 1) * T + t) * Bg;
      if (k == 1) relu_to(d, v, Bg);
      cs_matmul(B, g, g, k == 1 ? d : jin, g, 1, Wk + (long)(k - 1) * g * g, g, jo, g, 0);
      add_bias(jo, bk + (long)(k - 1) * g, B, g, g);
      relu_to(jo, jo, Bg);
      jin = jo;
    }
    dropped(d, jin, v, step_mask(mk, drop, t, t == 0, Bg, seed, threshold, scale), Bg);
    cs_matmul(B, n, g, d, g, 1, Wco, N, c, n, 0);
    add_bias(c, bco, B, n, n);
    cs_matmul(B, p, g, d, g, 1, Wco + n, N, out + (long)t * p, (long)T * p, 0);
    add_bias(out + (long)t * p, bco + n, B, p, (long)T * p);
    for (int b = 0; b < B; b++)
      for (int i = 0; i < n; i++) {
        long r = (long)b * n + i;
        h[r] = hp[r] * decay[i] + Z[zn == 1 ? 0 : i] * c[r];
      }
  }
  cs_copy(hT, hs + (T - 1) * Bn, (int)Bn);
}

/* work: T·B·(2g + n + p) + B·n + 4·B·g + 2n + g·n + (n+p)·g + (L−1)·g·g + m·g floats. */
CS_EXPORT(rru_backward)(int T, int B, int m, int n, int p, int g, int L, int norm, float sScale, int zn,
                        const float *x, const float *Wx, const float *Wh, const float *Wk, const float *Wco,
                        const float *S, const float *Z, const float *h0, int drop, unsigned seed, unsigned threshold, float scale,
                        const float *vs, const float *rs, const float *js, const float *cs, const float *hs,
                        const float *dout, const float *dhT, float *dx, float *dWx, float *dWh, float *dbj, float *dWk,
                        float *dbk, float *dWco, float *dbco, float *dS, float *dZ, float *dh0, float *work) {
  int N = n + p;
  long Bg = (long)B * g, Bn = (long)B * n;
  float cf = norm_factor(norm, g);
  /* dxp: ∂/∂(first-layer pre-activation); D, DCO: every step's d and ∂/∂[c, o], for dWco in one product. */
  float *dxp = work, *D = dxp + T * Bg, *DCO = D + T * Bg, *dh = DCO + (long)T * B * N, *dj = dh + Bn, *dj2 = dj + Bg;
  float *j1 = dj2 + Bg, *decay = j1 + Bg, *ddecay = decay + n, *WhT = ddecay + n, *WcoT = WhT + (long)g * n;
  float *WkT = WcoT + (long)N * g, *mk = WkT + (long)(L - 1) * g * g, *pw = mk + Bg;
  sigmoid_scaled(decay, S, sScale, n);
  cs_transpose(WhT, Wh, n, g);
  cs_transpose(WcoT, Wco, g, N);
  for (int k = 0; k < L - 1; k++) cs_transpose(WkT + (long)k * g * g, Wk + (long)k * g * g, g, g);
  cs_copy(dh, dhT, (int)Bn);
  for (int t = T - 1; t >= 0; t--) {
    const float *hp = t ? hs + (t - 1) * Bn : h0, *c = cs + t * Bn, *v = vs + t * Bg;
    const float *mk_t = step_mask(mk, drop, t, t == T - 1, Bg, seed, threshold, scale);
    float *d = D + t * Bg, *dco = DCO + (long)t * B * N, *da = dxp + t * Bg;
    dropped(d, L > 1 ? js + ((long)(L - 2) * T + t) * Bg : 0, v, mk_t, Bg);
    /* h_t = decay∘h_{t−1} + Z∘c_t */
    for (int b = 0; b < B; b++) {
      float *dhb = dh + (long)b * n, *dc = dco + (long)b * N;
      const float *hpb = hp + (long)b * n, *cb = c + (long)b * n;
      for (int i = 0; i < n; i++) {
        float z = Z[zn == 1 ? 0 : i];
        ddecay[i] += dhb[i] * hpb[i];
        dZ[zn == 1 ? 0 : i] += dhb[i] * cb[i];
        dc[i] = dhb[i] * z;
        dhb[i] *= decay[i];
      }
      cs_copy(dc + n, dout + ((long)b * T + t) * p, p);
    }
    cs_matmul(B, g, N, dco, N, 1, WcoT, g, dj, g, 0);
    if (mk_t)
      for (long i = 0; i < Bg; i++) dj[i] *= mk_t[i];
    /* Eq. 2 layers, last first: dj holds ∂/∂j_{k+1}. */
    for (int k = L - 1; k >= 1; k--) {
      const float *jo = js + ((long)(k - 1) * T + t) * Bg, *jin = j1;
      if (k > 1) jin = js + ((long)(k - 2) * T + t) * Bg;
      else relu_to(j1, v, Bg);
      for (long i = 0; i < Bg; i++)
        if (!(jo[i] > 0.0f)) dj[i] = 0.0f;
      cs_matmul(g, g, B, jin, 1, g, dj, g, dWk + (long)(k - 1) * g * g, g, 1);
      cs_colsum(dbk + (long)(k - 1) * g, dj, B, g);
      cs_matmul(B, g, g, dj, g, 1, WkT + (long)(k - 1) * g * g, g, dj2, g, 0);
      float *tmp = dj;
      dj = dj2;
      dj2 = tmp;
    }
    for (long i = 0; i < Bg; i++) da[i] = v[i] > 0.0f ? dj[i] : 0.0f;
    /* v = a·s, s = (cf·Σa² + eps)^−½  ⇒  ∂a = s·(∂v − cf·v·Σ(∂v·v)) */
    if (norm)
      for (int b = 0; b < B; b++) {
        float *dab = da + (long)b * g, dot = 0.0f, sb = rs[(long)t * B + b];
        const float *vb = v + (long)b * g;
        for (int j = 0; j < g; j++) dot += dab[j] * vb[j];
        for (int j = 0; j < g; j++) dab[j] = sb * (dab[j] - cf * vb[j] * dot);
      }
    cs_matmul(B, n, g, da, g, 1, WhT, n, dh, n, 1);
  }
  cs_copy(dh0, dh, (int)Bn);
  for (int i = 0; i < n; i++) dS[i] = ddecay[i] * sScale * decay[i] * (1.0f - decay[i]);
  /* Weight gradients over all steps at once: Σ_t h_{t−1}ᵀ·da_t and Σ_t d_tᵀ·[dc, do]_t. */
  cs_matmul(n, g, B, h0, 1, n, dxp, g, dWh, g, 1);
  matmul_tn(n, g, (T - 1) * B, hs, dxp + Bg, dWh);
  matmul_tn(g, N, T * B, D, DCO, dWco);
  cs_colsum(dbco, DCO, T * B, N);
  cs_project_backward(T, B, m, g, x, Wx, dxp, dx, dWx, dbj, pw);
}
