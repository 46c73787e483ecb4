/*
 * The recurrent cells' elementwise math over one vector width: the Cephes exp, sigmoid and tanh of
 * kernel/cellstack_kernel.h (so the addon and the wasm kernels agree to rounding) and the LSTM's,
 * GRU's and SimpleRNN's per-step gate rows built on them (step-rows.h has the other cells' step math).
 * One source, two builds in matmul.c: 8 lanes (AVX2 + FMA, or NEON) and, on x86-64 CPUs with AVX-512,
 * 16. Every lane runs the same operations in the same order whatever the width, so the two give the
 * same bits (the "16 lanes (setWide)" cases of the tests check it).
 *
 * The includer sets LANES; matmul.c's names follow it: VEC and VECI (LANES floats and ints), VSET(x) (x in
 * every lane), W(name) (name with the lane count appended: exp8, lstm_rows16, …), and W(clamp),
 * W(round), W(blend) it defines for each width.
 */
static inline VEC W(exp)(VEC x) {
  x = W(clamp)(x, -87.0f, 88.0f);
  VEC n = W(round)(x * VSET(1.44269504088896341f));
  VEC r = x - n * VSET(0.693359375f);
  r = r - n * VSET(-2.12194440e-4f);
  VEC p = VSET(1.9875691500e-4f);
  p = p * r + VSET(1.3981999507e-3f);
  p = p * r + VSET(8.3334519073e-3f);
  p = p * r + VSET(4.1665795894e-2f);
  p = p * r + VSET(1.6666665459e-1f);
  p = p * r + VSET(5.0000001201e-1f);
  p = (p * r) * r + (r + VSET(1.0f));
  VECI scale = (__builtin_convertvector(n, VECI) + 127) << 23;
  return p * (VEC)scale;
}

static inline VEC W(sigmoid)(VEC x) { return VSET(1.0f) / (VSET(1.0f) + W(exp)(-x)); }

static inline VEC W(tanh)(VEC x) {
  VEC ax = (VEC)((VECI)x & 0x7fffffff), z = x * x;
  VEC p = VSET(-5.70498872745e-3f);
  p = p * z + VSET(2.06390887954e-2f);
  p = p * z + VSET(-5.37397155531e-2f);
  p = p * z + VSET(1.33314422036e-1f);
  p = p * z + VSET(-3.33332819422e-1f);
  VEC small = (p * z) * x + x;
  VEC big = VSET(1.0f) - VSET(2.0f) / (W(exp)(ax * VSET(2.0f)) + VSET(1.0f));
  big = (VEC)((VECI)big | ((VECI)x & (int)0x80000000));
  return W(blend)(ax < VSET(0.625f), small, big);
}

/* The k ≤ LANES floats at p (a row's tail when k < LANES) as one vector, and back. */
static inline VEC W(load)(const float *p, int k) {
  if (k == LANES) return *(const VEC *)p;
  VEC v = VSET(0.0f);
  for (int i = 0; i < k; i++) v[i] = p[i];
  return v;
}
static inline void W(store)(float *p, VEC v, int k) {
  if (k == LANES) *(VEC *)p = v;
  else
    for (int i = 0; i < k; i++) p[i] = v[i];
}

/*
 * Rows [b0, b1) of an LSTM step: z's gates, c = f·c_prev + i·c̃ and h = o·tanh(c) (c_prev, c, h with row strides).
 * A row's gates first, then its c and h: in one pass, each LANES units' chain σ(f) → c → tanh(c) → h (two exp and
 * two divisions deep) left too little independent work to overlap (20 % slower, same results).
 */
static void W(lstm_rows)(int b0, int b1, int H, float *z, long ldz, const float *cp, long ldp, float *c, float *h, long ldh) {
  for (int b = b0; b < b1; b++) {
    float *zb = z + b * ldz, *cb = c + b * (long)H, *hb = h + b * ldh;
    const float *cpb = cp + b * ldp;
    for (int j = 0; j < H; j += LANES) {
      int k = H - j < LANES ? H - j : LANES;
      W(store)(zb + j, W(sigmoid)(W(load)(zb + j, k)), k);
      W(store)(zb + H + j, W(sigmoid)(W(load)(zb + H + j, k)), k);
      W(store)(zb + 2 * H + j, W(tanh)(W(load)(zb + 2 * H + j, k)), k);
      W(store)(zb + 3 * H + j, W(sigmoid)(W(load)(zb + 3 * H + j, k)), k);
    }
    for (int j = 0; j < H; j += LANES) {
      int k = H - j < LANES ? H - j : LANES;
      VEC cj = W(load)(zb + H + j, k) * W(load)(cpb + j, k) + W(load)(zb + j, k) * W(load)(zb + 2 * H + j, k);
      W(store)(cb + j, cj, k);
      W(store)(hb + j, W(load)(zb + 3 * H + j, k) * W(tanh)(cj), k);
    }
  }
}

/* GRU (reset before the recurrent product, kernel/gru.c), after h_{t−1}·[U_z | U_r]: z and r = sigmoid in place, rh = r ∘ h_{t−1}. */
static void W(gru_reset_rows)(int b0, int b1, int H, float *zr, long ldz, const float *hp, long ldp, float *rh, long ldh) {
  for (int b = b0; b < b1; b++) {
    float *zb = zr + b * ldz, *out = rh + b * ldh;
    const float *hpb = hp + b * ldp;
    for (int j = 0; j < 2 * H; j += LANES) {
      int k = 2 * H - j < LANES ? 2 * H - j : LANES;
      W(store)(zb + j, W(sigmoid)(W(load)(zb + j, k)), k);
    }
    for (int j = 0; j < H; j += LANES) {
      int k = H - j < LANES ? H - j : LANES;
      W(store)(out + j, W(load)(zb + H + j, k) * W(load)(hpb + j, k), k);
    }
  }
}

/* GRU, after (r ∘ h_{t−1})·U_h: h̃ = tanh in place, h = h̃ + z ∘ (h_{t−1} − h̃). */
static void W(gru_blend_rows)(int b0, int b1, int H, float *zr, long ldz, const float *hp, long ldp, float *h, long ldh) {
  for (int b = b0; b < b1; b++) {
    float *zb = zr + b * ldz, *hb = h + b * ldh;
    const float *hpb = hp + b * ldp;
    for (int j = 0; j < H; j += LANES) {
      int k = H - j < LANES ? H - j : LANES;
      VEC hh = W(tanh)(W(load)(zb + 2 * H + j, k));
      W(store)(zb + 2 * H + j, hh, k);
      W(store)(hb + j, hh + W(load)(zb + j, k) * (W(load)(hpb + j, k) - hh), k);
    }
  }
}

/* SimpleRNN: z = tanh(z) in place. */
static void W(tanh_rows)(int b0, int b1, int H, float *z, long ldz) {
  for (int b = b0; b < b1; b++)
    for (int j = 0; j < H; j += LANES) {
      int k = H - j < LANES ? H - j : LANES;
      W(store)(z + b * ldz + j, W(tanh)(W(load)(z + b * ldz + j, k)), k);
    }
}


