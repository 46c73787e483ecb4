/*
 * The per-step elementwise math of the cells `step` serves (kinds 0–9: STAR, JANET, SimpleRNN's and the
 * LSTM's gradients, UR-LSTM, DMU) over one vector width, on lanes.h's exp, sigmoid and tanh. Built twice
 * in cells.c, as lanes.h is in matmul.c (8 lanes, and 16 with AVX-512), with the same W(name) and VEC
 * macros; each lane's operations are the same at either width.
 */

/* σ(x) and 1 − σ(x) = e^{−x}·σ(x) (no cancellation where σ(x) is near 1), as janet.c. */
static inline VEC W(sigmoid_pair)(VEC x, VEC *rest) {
  VEC e = W(exp)(-x), y = VSET(1.0f) / (VSET(1.0f) + e);
  *rest = e * y;
  return y;
}

static void W(star_rows)(const StepArgs *s, int b0, int b1) {
  int H = s->H, official = s->kind == STEP_STAR_OFFICIAL;
  for (int b = b0; b < b1; b++) {
    float *a = s->p[0] + b * s->ld[0], *h = s->p[2] + b * s->ld[2];
    const float *hp = s->p[1] + b * s->ld[1];
    for (int j = 0; j < H; j += LANES) {
      int k = H - j < LANES ? H - j : LANES;
      VEC z = W(tanh)(W(load)(a + j, k)), f = W(load)(a + H + j, k), p = W(load)(hp + j, k), y;
      W(store)(a + j, z, k);
      if (!official) {
        f = W(sigmoid)(f);
        W(store)(a + H + j, f, k);
        y = p + f * (z - p);
      } else {
        VEC rest;
        W(sigmoid_pair)(f - VSET(1.0f), &rest);
        y = W(sigmoid)(f) * p + rest * z;
      }
      W(store)(h + j, W(tanh)(y), k);
    }
  }
}

static void W(star_grad_rows)(const StepArgs *s, int b0, int b1) {
  int H = s->H, official = s->kind == STEP_STAR_OFFICIAL_GRAD;
  for (int b = b0; b < b1; b++) {
    const float *a = s->p[0] + b * s->ld[0], *h = s->p[1] + b * s->ld[1], *hp = s->p[2] + b * s->ld[2], *dout = s->p[3] + b * s->ld[3];
    float *dh = s->p[4] + b * s->ld[4], *da = s->p[5] + b * s->ld[5];
    for (int j = 0; j < H; j += LANES) {
      int k = H - j < LANES ? H - j : LANES;
      VEC hv = W(load)(h + j, k), z = W(load)(a + j, k), g = W(load)(a + H + j, k), p = W(load)(hp + j, k);
      VEC d = (W(load)(dh + j, k) + W(load)(dout + j, k)) * (VSET(1.0f) - hv * hv), dz, dg, dp;
      if (!official) {
        dz = d * g;
        dg = d * (z - p) * g * (VSET(1.0f) - g);
        dp = d * (VSET(1.0f) - g);
      } else {
        VEC r1, r2, s1 = W(sigmoid_pair)(g, &r1), s2 = W(sigmoid_pair)(g - VSET(1.0f), &r2);
        dz = d * r2;
        dg = d * (p * s1 * r1 - z * s2 * r2);
        dp = d * s1;
      }
      W(store)(da + j, dz * (VSET(1.0f) - z * z), k);
      W(store)(da + H + j, dg, k);
      W(store)(dh + j, dp, k);
    }
  }
}

static void W(janet_rows)(const StepArgs *s, int b0, int b1) {
  int H = s->H;
  VEC beta = VSET(s->f[0]);
  for (int b = b0; b < b1; b++) {
    float *a = s->p[0] + b * s->ld[0], *h = s->p[2] + b * s->ld[2];
    const float *hp = s->p[1] + b * s->ld[1];
    for (int j = 0; j < H; j += LANES) {
      int k = H - j < LANES ? H - j : LANES;
      VEC sv = W(load)(a + j, k), c = W(tanh)(W(load)(a + H + j, k)), f1, g1;
      VEC f = W(sigmoid_pair)(sv, &f1);
      W(sigmoid_pair)(sv - beta, &g1);
      W(store)(a + H + j, c, k);
      W(store)(h + j, f * W(load)(hp + j, k) + g1 * c, k);
    }
  }
}

static void W(janet_grad_rows)(const StepArgs *s, int b0, int b1) {
  int H = s->H;
  VEC beta = VSET(s->f[0]);
  for (int b = b0; b < b1; b++) {
    const float *a = s->p[0] + b * s->ld[0], *hp = s->p[1] + b * s->ld[1], *dout = s->p[2] + b * s->ld[2];
    float *dh = s->p[3] + b * s->ld[3], *da = s->p[4] + b * s->ld[4];
    for (int j = 0; j < H; j += LANES) {
      int k = H - j < LANES ? H - j : LANES;
      VEC sv = W(load)(a + j, k), c = W(load)(a + H + j, k), d = W(load)(dh + j, k) + W(load)(dout + j, k), f1, g1;
      VEC f = W(sigmoid_pair)(sv, &f1), g = W(sigmoid_pair)(sv - beta, &g1);
      VEC df = W(load)(hp + j, k) * (f * f1), dg = c * (g * g1);
      W(store)(da + j, d * (df - dg), k);
      W(store)(da + H + j, d * (g1 * (VSET(1.0f) - c * c)), k);
      W(store)(dh + j, d * f, k);
    }
  }
}

static void W(tanh_grad_rows)(const StepArgs *s, int b0, int b1) {
  int H = s->H;
  for (int b = b0; b < b1; b++) {
    const float *h = s->p[0] + b * s->ld[0], *dout = s->p[1] + b * s->ld[1], *dh = s->p[2] + b * s->ld[2];
    float *da = s->p[3] + b * s->ld[3];
    for (int j = 0; j < H; j += LANES) {
      int k = H - j < LANES ? H - j : LANES;
      VEC hv = W(load)(h + j, k);
      W(store)(da + j, (W(load)(dh + j, k) + W(load)(dout + j, k)) * (VSET(1.0f) - hv * hv), k);
    }
  }
}

/* urlstm.c's forward step for the refine gate (E = f² + 2r(f − f²), tied input) with zoneout expectations, not masks. */
static void W(urlstm_rows)(const StepArgs *s, int b0, int b1) {
  int H = s->H;
  float zc = s->f[0], zh = s->f[1];
  for (int b = b0; b < b1; b++) {
    float *a = s->p[0] + b * s->ld[0], *c = s->p[3] + b * s->ld[3], *h = s->p[4] + b * s->ld[4];
    const float *cp = s->p[1] + b * s->ld[1], *hp = s->p[2] + b * s->ld[2];
    for (int j = 0; j < H; j += LANES) {
      int k = H - j < LANES ? H - j : LANES;
      VEC f = W(sigmoid)(W(load)(a + j, k)), r = W(sigmoid)(W(load)(a + H + j, k)), o = W(sigmoid)(W(load)(a + 2 * H + j, k));
      VEC u = W(tanh)(W(load)(a + 3 * H + j, k)), p = W(load)(cp + j, k), f2 = f * f;
      W(store)(a + j, f, k), W(store)(a + H + j, r, k), W(store)(a + 2 * H + j, o, k), W(store)(a + 3 * H + j, u, k);
      VEC e = f2 + (r * VSET(2.0f)) * (f - f2), cn = u + e * (p - u), hn = o * W(tanh)(cn);
      if (zc > 0) cn = cn + VSET(zc) * (p - cn);
      if (zh > 0) hn = hn + VSET(zh) * (W(load)(hp + j, k) - hn);
      W(store)(c + j, cn, k);
      W(store)(h + j, hn, k);
    }
  }
}

/* dmu.c's output layer with the default tanh candidate. */
static void W(dmu_rows)(const StepArgs *s, int b0, int b1) {
  int H = s->H;
  for (int b = b0; b < b1; b++) {
    float *a = s->p[0] + b * s->ld[0], *h = s->p[2] + b * s->ld[2];
    const float *hp = s->p[1] + b * s->ld[1];
    for (int j = 0; j < H; j += LANES) {
      int k = H - j < LANES ? H - j : LANES;
      VEC sv = W(sigmoid)(W(load)(a + j, k)), g = W(tanh)(W(load)(a + H + j, k));
      W(store)(a + j, sv, k);
      W(store)(a + H + j, g, k);
      W(store)(h + j, sv * W(load)(hp + j, k) + (VSET(1.0f) - sv) * g, k);
    }
  }
}

/* lstm.c's backward step: dh (from the later steps) is read, dc updated, a's activations become dz. */
static void W(lstm_grad_rows)(const StepArgs *s, int b0, int b1) {
  int H = s->H;
  const VEC one = VSET(1.0f);
  for (int b = b0; b < b1; b++) {
    float *d = s->p[0] + b * s->ld[0], *dc = s->p[5] + b * s->ld[5];
    const float *c = s->p[1] + b * s->ld[1], *cp = s->p[2] + b * s->ld[2], *dout = s->p[3] + b * s->ld[3], *dh = s->p[4] + b * s->ld[4];
    for (int j = 0; j < H; j += LANES) {
      int k = H - j < LANES ? H - j : LANES;
      VEC i = W(load)(d + j, k), f = W(load)(d + H + j, k), g = W(load)(d + 2 * H + j, k), o = W(load)(d + 3 * H + j, k);
      VEC tc = W(tanh)(W(load)(c + j, k)), dhj = W(load)(dh + j, k) + W(load)(dout + j, k);
      VEC dcj = W(load)(dc + j, k) + (dhj * o) * (one - tc * tc);
      W(store)(d + j, (dcj * g) * (i * (one - i)), k);
      W(store)(d + H + j, (dcj * W(load)(cp + j, k)) * (f * (one - f)), k);
      W(store)(d + 2 * H + j, (dcj * i) * (one - g * g), k);
      W(store)(d + 3 * H + j, (dhj * tc) * (o * (one - o)), k);
      W(store)(dc + j, dcj * f, k);
    }
  }
}
