/*
 * The traced-step interpreter: runs a step program (src/trace/ir.ts of @cellstack/core, lowered by
 * src/trace/lower.ts into the records below) over many time steps in one call. The same code runs
 * a forward program (t = 0 … T−1) and an adjoint program (t = T−1 … 0).
 *
 * One source, two builds: @cellstack/core's kernel/trace.c includes it for wasm (4 lanes, its
 * products through cs_matmul), and this package's trace.c for the addon (8 lanes with FMA, products
 * on the addon's threads), each first defining the vector type `vf` of VN lanes, the V* operations
 * below, cs_exp / cs_sigmoid / cs_tanh, cs_copy, cs_zero, cs_transpose and cs_matmul (the contract
 * of kernel/cellstack_kernel.h), and FUSED_RUN (how a fused run's tiles are spread: the addon splits
 * them over its threads). Buffer addresses are byte offsets from `base` (wasm: 0, its own
 * memory; the addon: the start of that memory), so both run the same program on the same buffers.
 *
 * Code layout (int32 words):
 *   [nbuf, nops, ncopies, npre, npost, chunk]
 *   nbuf × [ptr, stride, mod]   buffer at step t = ptr + 4·stride·t bytes (stride 0: fixed), or with
 *                               mod > 0 ptr + 4·stride·(t mod mod) (a store for one chunk of steps)
 *   nops × OP_WORDS             one record per op, see the cases of run_op (a FUSED record is
 *                               followed by one record per op it fuses)
 *   npre × OP_WORDS             products run once per chunk of `chunk` steps before its first step,
 *   npost × OP_WORDS            and after its last, over all the chunk's rows at once (see run_section)
 *   ncopies × [src, dst, n, accumulate]   after each step: dst (+)= src (src −1: zeros)
 * Shapes are static, so every record carries its loop bounds and strides in elements,
 * padded to rank 4 (leading size-1 dims).
 */

enum { OP_WORDS = 32 };
enum { UNARY = 1, BINARY, SELECT, MATMUL, REDUCE, CUMSUM, SOFTMAX, COPY, ZERO, TRANSPOSE2, FUSED };
enum { NEG, EXP, LOG, SQRT, RSQRT, SIGMOID, TANH, RELU, ABS, SQUARE, RECIP, SIGN, STEP, IDENTITY };
enum { ADD, SUB, MUL, DIV, MAX, MIN, POW, GT, GE, LT, LE, EQ, NE };

/* Scalar log and pow for the rare ops that need them (no libc). */
static float cs_logf(float x) {
  if (!(x > 0)) return x == 0 ? -__builtin_inff() : __builtin_nanf("");
  if (x == __builtin_inff()) return x;
  union { float f; unsigned u; } v = {x};
  int e = (int)((v.u >> 23) & 255) - 127;
  v.u = (v.u & 0x007fffff) | 0x3f800000; /* mantissa in [1, 2) */
  float m = v.f;
  if (m > 1.41421356f) {
    m *= 0.5f;
    e++;
  }
  /* log(m) = 2·atanh((m−1)/(m+1)), series to s^9: < 1 ulp on [0.707, 1.414]. */
  float s = (m - 1) / (m + 1), s2 = s * s;
  float r = 2 * s * (1 + s2 * (1.0f / 3 + s2 * (1.0f / 5 + s2 * (1.0f / 7 + s2 * (1.0f / 9)))));
  return r + (float)e * 0.693147180559945f;
}
static float cs_powf(float a, float b) {
  if (b == 0) return 1;
  if (b == 1) return a;
  if (b == 2) return a * a;
  if (b == 0.5f) return __builtin_sqrtf(a);
  if (a < 0) {
    int n = (int)b;
    if ((float)n != b) return __builtin_nanf("");
    float p = cs_exp(b * cs_logf(-a));
    return n & 1 ? -p : p;
  }
  return a == 0 ? (b > 0 ? 0 : __builtin_inff()) : cs_exp(b * cs_logf(a));
}

static float unary1(int fn, float x) {
  switch (fn) {
    case NEG: return -x;
    case EXP: return cs_exp(x);
    case LOG: return cs_logf(x);
    case SQRT: return __builtin_sqrtf(x);
    case RSQRT: return 1 / __builtin_sqrtf(x);
    case SIGMOID: return cs_sigmoid(x);
    case TANH: return cs_tanh(x);
    case RELU: return x > 0 ? x : 0;
    case ABS: return __builtin_fabsf(x);
    case SQUARE: return x * x;
    case RECIP: return 1 / x;
    case SIGN: return x > 0 ? 1.0f : x < 0 ? -1.0f : 0.0f;
    case IDENTITY: return x;
    default: return x > 0 ? 1.0f : 0.0f; /* STEP */
  }
}

/* One loop per function (a loop choosing per element computes every branch): vector body, scalar tail. */
#define MAP1(expr)                                  \
  for (; i + VN <= n; i += VN) {                    \
    vf v = VLD(x + i);                             \
    VST(out + i, expr);                            \
  }                                                 \
  break;

static void unary(int fn, float *out, const float *x, int n) {
  int i = 0;
  const vf one = VS(1), zero = VS(0);
  switch (fn) {
    case NEG: MAP1(VNEG(v))
    case EXP: MAP1(VEXP(v))
    case SQRT: MAP1(VSQRT(v))
    case RSQRT: MAP1(VDIV(one, VSQRT(v)))
    case SIGMOID: MAP1(VSIGMOID(v))
    case TANH: MAP1(VTANH(v))
    case RELU: MAP1(VPMAX(zero, v)) /* 0 < x ? x : 0, as unary1 */
    case ABS: MAP1(VABS(v))
    case SQUARE: MAP1(VMUL(v, v))
    case RECIP: MAP1(VDIV(one, v))
    case SIGN: MAP1(VOR(VAND(VGT(v, zero), one), VAND(VLT(v, zero), VS(-1))))
    case STEP: MAP1(VAND(VGT(v, zero), one))
    case IDENTITY: MAP1(v)
  }
  for (; i < n; i++) out[i] = unary1(fn, x[i]);
}

static inline float binary1(int fn, float a, float b) {
  switch (fn) {
    case ADD: return a + b;
    case SUB: return a - b;
    case MUL: return a * b;
    case DIV: return a / b;
    case MAX: return a >= b ? a : b;
    case MIN: return a <= b ? a : b;
    case POW: return cs_powf(a, b);
    case GT: return (float)(a > b);
    case GE: return (float)(a >= b);
    case LT: return (float)(a < b);
    case LE: return (float)(a <= b);
    case EQ: return (float)(a == b);
    default: return (float)(a != b); /* NE */
  }
}

/* a ⊙ b on vectors for every function but pow (0/1 for comparisons), as binary1 on each lane. */
static inline vf binary4(int fn, vf a, vf b) {
  const vf one = VS(1);
  switch (fn) {
    case ADD: return VADD(a, b);
    case SUB: return VSUB(a, b);
    case MUL: return VMUL(a, b);
    case DIV: return VDIV(a, b);
    case MAX: return VSEL(a, b, VGE(a, b));
    case MIN: return VSEL(a, b, VLE(a, b));
    case GT: return VAND(VGT(a, b), one);
    case GE: return VAND(VGE(a, b), one);
    case LT: return VAND(VLT(a, b), one);
    case LE: return VAND(VLE(a, b), one);
    case EQ: return VAND(VEQ(a, b), one);
    default: return VAND(VNE(a, b), one); /* NE */
  }
}

/* The contiguous cases with SIMD (both operands full, or one a scalar), one loop per function. */
#define MAP2(F, LA, LB)                                                    \
  case F:                                                                  \
    for (; i + VN <= n; i += VN) VST(out + i, binary4(F, LA, LB));        \
    break;
#define MAP2_ALL(LA, LB)                                                                            \
  switch (fn) {                                                                                     \
    MAP2(ADD, LA, LB) MAP2(SUB, LA, LB) MAP2(MUL, LA, LB) MAP2(DIV, LA, LB) MAP2(MAX, LA, LB)       \
    MAP2(MIN, LA, LB) MAP2(GT, LA, LB) MAP2(GE, LA, LB) MAP2(LT, LA, LB) MAP2(LE, LA, LB)           \
    MAP2(EQ, LA, LB) MAP2(NE, LA, LB)                                                               \
  }

static int binary_fast(int fn, float *out, const float *a, const float *b, int n, int sa, int sb) {
  if (fn == POW || (sa > 1 || sb > 1)) return 0;
  int i = 0;
  if (sa == 1 && sb == 1) {
    MAP2_ALL(VLD(a + i), VLD(b + i))
  } else if (sa == 1) {
    const vf y = VS(b[0]);
    MAP2_ALL(VLD(a + i), y)
  } else if (sb == 1) {
    const vf x = VS(a[0]);
    MAP2_ALL(x, VLD(b + i))
  } else return 0;
  for (; i < n; i++) out[i] = binary1(fn, a[i * sa], b[i * sb]);
  return 1;
}

/*
 * Many short rows (an outer product p qᵀ per batch row: [R, 1] ⊙ [1, n]; a product's adjoint g ⊙ q
 * broadcast over rows): `rows` rows of n, operands stepping sa2 / sb2 per row, each read in full
 * (stride 1) or as a scalar (stride 0) along the row, with the function chosen once for all rows
 * rather than per row. Returns 0 where it does not apply.
 */
#define ROWS2(F, LA, LB)                                                                      \
  case F:                                                                                     \
    for (int r = 0; r < rows; r++) {                                                          \
      const float *pa = a + (long)r * sa2, *pb = b + (long)r * sb2;                            \
      float *po = out + (long)r * n;                                                          \
      int i = 0;                                                                              \
      for (; i + VN <= n; i += VN) VST(po + i, binary4(F, LA, LB));                           \
      for (; i < n; i++) po[i] = binary1(F, pa[i * sa3], pb[i * sb3]);                        \
    }                                                                                         \
    return 1;
#define ROWS2_ALL(LA, LB)                                                                                           \
  switch (fn) {                                                                                                     \
    ROWS2(ADD, LA, LB) ROWS2(SUB, LA, LB) ROWS2(MUL, LA, LB) ROWS2(DIV, LA, LB) ROWS2(MAX, LA, LB)                  \
    ROWS2(MIN, LA, LB) ROWS2(GT, LA, LB) ROWS2(GE, LA, LB) ROWS2(LT, LA, LB) ROWS2(LE, LA, LB)                      \
    ROWS2(EQ, LA, LB) ROWS2(NE, LA, LB)                                                                             \
  }
static int binary_rows(int fn, float *out, const float *a, const float *b, int rows, int n, int sa2, int sb2, int sa3, int sb3) {
  if (fn == POW || n < VN || sa3 > 1 || sb3 > 1) return 0;
  if (sa3 == 1 && sb3 == 1) ROWS2_ALL(VLD(pa + i), VLD(pb + i))
  else if (sa3 == 1 && sb3 == 0) ROWS2_ALL(VLD(pa + i), VS(pb[0]))
  else if (sa3 == 0 && sb3 == 1) ROWS2_ALL(VS(pa[0]), VLD(pb + i))
  return 0;
}

/*
 * Elementwise over a rank-4 index space d[4]: operand k's element is at Σ idx·s_k (0 strides
 * broadcast); out is contiguous.
 */
static void binary(int fn, float *out, const float *a, const float *b, const int *d, const int *sa, const int *sb) {
  for (int i0 = 0; i0 < d[0]; i0++)
    for (int i1 = 0; i1 < d[1]; i1++) {
      const float *pa1 = a + i0 * sa[0] + i1 * sa[1], *pb1 = b + i0 * sb[0] + i1 * sb[1];
      float *po1 = out + (i0 * d[1] + i1) * d[2] * d[3];
      if (d[2] > 1 && binary_rows(fn, po1, pa1, pb1, d[2], d[3], sa[2], sb[2], sa[3], sb[3])) continue;
      for (int i2 = 0; i2 < d[2]; i2++) {
        const float *pa = a + i0 * sa[0] + i1 * sa[1] + i2 * sa[2], *pb = b + i0 * sb[0] + i1 * sb[1] + i2 * sb[2];
        float *po = out + ((i0 * d[1] + i1) * d[2] + i2) * d[3];
        if (binary_fast(fn, po, pa, pb, d[3], sa[3], sb[3])) continue;
        for (int i3 = 0; i3 < d[3]; i3++) po[i3] = binary1(fn, pa[i3 * sa[3]], pb[i3 * sb[3]]);
      }
    }
}

static void select3(float *out, const float *c, const float *a, const float *b, const int *d, const int *sc, const int *sa,
                    const int *sb) {
  float *po = out;
  for (int i0 = 0; i0 < d[0]; i0++)
    for (int i1 = 0; i1 < d[1]; i1++)
      for (int i2 = 0; i2 < d[2]; i2++)
        for (int i3 = 0; i3 < d[3]; i3++) {
          int oc = i0 * sc[0] + i1 * sc[1] + i2 * sc[2] + i3 * sc[3];
          int oa = i0 * sa[0] + i1 * sa[1] + i2 * sa[2] + i3 * sa[3];
          int ob = i0 * sb[0] + i1 * sb[1] + i2 * sb[2] + i3 * sb[3];
          *po++ = c[oc] != 0 ? a[oa] : b[ob];
        }
}

/* Strided copy over d[4]: dst[Σ idx·sd] = src[Σ idx·ss]. Slices, pads, concat pieces, transposes, broadcasts. */
static void copy4(float *dst, const float *src, const int *d, const int *sd, const int *ss) {
  for (int i0 = 0; i0 < d[0]; i0++)
    for (int i1 = 0; i1 < d[1]; i1++)
      for (int i2 = 0; i2 < d[2]; i2++) {
        float *pd = dst + i0 * sd[0] + i1 * sd[1] + i2 * sd[2];
        const float *ps = src + i0 * ss[0] + i1 * ss[1] + i2 * ss[2];
        if (sd[3] == 1 && ss[3] == 1) cs_copy(pd, ps, d[3]);
        else
          for (int i3 = 0; i3 < d[3]; i3++) pd[i3 * sd[3]] = ps[i3 * ss[3]];
      }
}

/* Sum or max of x (contiguous over d[4]) into out at Σ idx·so (0 on reduced dims). */
static void reduce(int max, float *out, int nout, const float *x, const int *d, const int *so) {
  for (int i = 0; i < nout; i++) out[i] = max ? -__builtin_inff() : 0;
  const float *px = x;
  for (int i0 = 0; i0 < d[0]; i0++)
    for (int i1 = 0; i1 < d[1]; i1++)
      for (int i2 = 0; i2 < d[2]; i2++) {
        float *po = out + i0 * so[0] + i1 * so[1] + i2 * so[2];
        if (so[3] == 0) {
          /* Four lanes of partial results, then the tail (x > acc never takes a NaN, as before). */
          float acc = *po;
          int i3 = 0;
          if (d[3] >= 2 * VN) {
            vf v = VS(max ? -__builtin_inff() : 0);
            for (; i3 + VN <= d[3]; i3 += VN) v = max ? VPMAX(v, VLD(px + i3)) : VADD(v, VLD(px + i3));
            if (max) {
              float m = VHMAX(v);
              acc = m > acc ? m : acc;
            } else
              acc += VHSUM(v);
          }
          if (max)
            for (; i3 < d[3]; i3++) acc = px[i3] > acc ? px[i3] : acc;
          else
            for (; i3 < d[3]; i3++) acc += px[i3];
          *po = acc;
        } else if (max) {
          for (int i3 = 0; i3 < d[3]; i3++) po[i3] = px[i3] > po[i3] ? px[i3] : po[i3];
        } else {
          int i3 = 0;
          for (; i3 + VN <= d[3]; i3 += VN) VST(po + i3, VADD(VLD(po + i3), VLD(px + i3)));
          for (; i3 < d[3]; i3++) po[i3] += px[i3];
        }
        px += d[3];
      }
}

static void cumsum(float *out, const float *x, int outer, int n, int inner, int exclusive, int reverse) {
  for (int a = 0; a < outer; a++)
    for (int c = 0; c < inner; c++) {
      float sum = 0;
      for (int k = 0; k < n; k++) {
        long at = ((long)a * n + (reverse ? n - 1 - k : k)) * inner + c;
        if (exclusive) {
          out[at] = sum;
          sum += x[at];
        } else {
          sum += x[at];
          out[at] = sum;
        }
      }
    }
}

static void softmax(float *out, const float *x, int rows, int n) {
  for (int r = 0; r < rows; r++, x += n, out += n) {
    float m = x[0], sum = 0;
    for (int k = 1; k < n; k++) m = x[k] > m ? x[k] : m;
    for (int k = 0; k < n; k++) sum += out[k] = cs_exp(x[k] - m);
    float inv = 1 / sum;
    for (int k = 0; k < n; k++) out[k] *= inv;
  }
}

/*
 * A run of elementwise ops over the same N elements, evaluated tile by tile (TILE floats) so
 * that values used only inside the run stay in a stack tile instead of making a pass over a
 * buffer each. Header: FUSED, nins, N, tile (divides N and every broadcast period below).
 * Each op's record: kind, fn, out, store, nsrc, then per operand: reg (an earlier op of the
 * run, else −1), slot, Q, P, W — a buffer operand's element for flat index i is (i / Q) mod P
 * (full: Q 1, P N; a row vector: Q 1, P n; a column: Q n; a scalar: P 1), or with W > 0 a
 * block of W columns of rows Q apart from column P: (i / W)·Q + P + i mod W (a slice, read in
 * place). Words 20–22, when W > 0, place the op's stored value the same way in its out buffer
 * (a block of a concat, written in place). The tile divides every W.
 */
enum { TILE = 64, MAX_FUSED = 48 };

/* Offset of flat index i in a block of W columns of rows ld apart from column off (W = ld: a plain run). */
static inline int block(int i, int W, int ld, int off) { return i < W ? off + i : W == ld ? off + i : i / W * ld + off + i % W; }

/* Tiles [t0, t1) of the run: each tile's elements depend on no other tile's, so tiles may run on any thread. */
static void fused_tiles(const int *h, float *const *p, int t0, int t1) {
  int nins = h[1], tile = h[3];
  float regs[MAX_FUSED][TILE] __attribute__((aligned(32)));
  float *val[MAX_FUSED];
  for (int base = t0 * tile; base < t1 * tile; base += tile)
    for (int k = 0; k < nins; k++) {
      const int *o = h + OP_WORDS * (k + 1);
      float *dst = val[k] = !o[3] ? regs[k] : o[20] > 0 ? p[o[2]] + block(base, o[20], o[21], o[22]) : p[o[2]] + base;
      const float *src[3] = {0, 0, 0};
      int st[3] = {0, 0, 0};
      for (int j = 0; j < o[4]; j++) {
        const int *a = o + 5 + 5 * j;
        if (a[0] >= 0) {
          src[j] = val[a[0]];
          st[j] = 1;
        } else if (a[4] > 0) {
          src[j] = p[a[1]] + block(base, a[4], a[2], a[3]);
          st[j] = 1;
        } else {
          /* (base / Q) mod P without dividing in the common cases (full operands: Q 1, P N; scalars: P 1). */
          int q = a[2] == 1 ? base : base / a[2];
          src[j] = p[a[1]] + (a[3] == 1 ? 0 : q < a[3] ? q : q % a[3]);
          st[j] = a[2] == 1 && a[3] > 1;
        }
      }
      switch (o[0]) {
        case UNARY:
          if (st[0]) unary(o[1], dst, src[0], tile);
          else {
            float v = unary1(o[1], src[0][0]);
            for (int i = 0; i < tile; i++) dst[i] = v;
          }
          break;
        case BINARY:
          if (!binary_fast(o[1], dst, src[0], src[1], tile, st[0], st[1]))
            for (int i = 0; i < tile; i++) dst[i] = binary1(o[1], src[0][i * st[0]], src[1][i * st[1]]);
          break;
        default: /* SELECT */
          for (int i = 0; i < tile; i++) dst[i] = src[0][i * st[0]] != 0 ? src[1][i * st[1]] : src[2][i * st[2]];
      }
    }
}

/*
 * C (+)= A·Bᵀ for a few rows of A (a per-row product against a per-step B, e.g. NRU's g·dirsᵀ per batch
 * row): dot products along K, both operands contiguous, so B needs no transposed copy each step.
 */
static void matmul_nt(int M, int N, int K, const float *A, int lda, const float *B, float *C, int accumulate) {
  for (int i = 0; i < M; i++, A += lda, C += N)
    for (int j = 0; j < N; j++) {
      const float *b = B + (long)j * K;
      vf v = VS(0);
      int k = 0;
      for (; k + VN <= K; k += VN) v = VADD(v, VMUL(VLD(A + k), VLD(b + k)));
      float sum = VHSUM(v);
      for (; k < K; k++) sum += A[k] * b[k];
      C[j] = accumulate ? C[j] + sum : sum;
    }
}

static float *P(float *const *ptrs, int id) { return ptrs[id]; }

/* Runs one op; returns the records it took (a fused run: its header and its ops). */
static int run_op(const int *o, float *const *p, int count) {
  switch (o[0]) {
    case FUSED: /* the build's FUSED_RUN(h, p, tiles): all tiles on this thread, or split over threads (the addon) */
      FUSED_RUN(o, p, o[2] / o[3]);
      return 1 + o[1];
    case UNARY: /* fn, out, x, n */
      unary(o[1], P(p, o[2]), P(p, o[3]), o[4]);
      break;
    case BINARY: /* fn, out, a, b, d[4], sa[4], sb[4] */
      binary(o[1], P(p, o[2]), P(p, o[3]), P(p, o[4]), o + 5, o + 9, o + 13);
      break;
    case SELECT: /* -, out, c, a, b, d[4], sc[4], sa[4], sb[4] */
      select3(P(p, o[2]), P(p, o[3]), P(p, o[4]), P(p, o[5]), o + 6, o + 10, o + 14, o + 18);
      break;
    case MATMUL: { /* -, out, a, b, batch, M, N, K, sa, sk, batchA, batchB, accumulate (out += product), stack, b transposed (A·Bᵀ, B [N, K]) */
      int batch = o[5], M = o[6], N = o[7], K = o[8];
      if (o[15]) {
        for (int q = 0; q < batch; q++)
          matmul_nt(M, N, K, P(p, o[3]) + (long)q * o[11], o[9], P(p, o[4]) + (long)q * o[12], P(p, o[2]) + (long)q * M * N, o[13]);
        break;
      }
      /* In a chunk's pre or post section (count = its steps): the steps' rows stacked along M or along K. */
      if (o[14] == 1) M *= count;
      if (o[14] == 2) K *= count;
      for (int q = 0; q < batch; q++)
        cs_matmul(M, N, K, P(p, o[3]) + (long)q * o[11], o[9], o[10], P(p, o[4]) + (long)q * o[12], N, P(p, o[2]) + (long)q * M * N, N, o[13]);
      break;
    }
    case TRANSPOSE2: /* -, out, x, batch, rows, cols: out[q] = x[q]ᵀ */
      for (int q = 0; q < o[4]; q++) cs_transpose(P(p, o[2]) + (long)q * o[5] * o[6], P(p, o[3]) + (long)q * o[5] * o[6], o[5], o[6]);
      break;
    case REDUCE: /* max, out, x, nout, d[4], so[4] */
      reduce(o[1], P(p, o[2]), o[4], P(p, o[3]), o + 5, o + 9);
      break;
    case CUMSUM: /* -, out, x, outer, n, inner, exclusive, reverse */
      cumsum(P(p, o[2]), P(p, o[3]), o[4], o[5], o[6], o[7], o[8]);
      break;
    case SOFTMAX: /* -, out, x, rows, n */
      softmax(P(p, o[2]), P(p, o[3]), o[4], o[5]);
      break;
    case COPY: /* -, dst, src, dstOffset, srcOffset, d[4], sd[4], ss[4] */
      copy4(P(p, o[2]) + o[4], P(p, o[3]) + o[5], o + 6, o + 10, o + 14);
      break;
    case ZERO: /* -, out, n */
      cs_zero(P(p, o[2]), o[3]);
      break;
  }
  return 1;
}

/* Slot pointers at step t. */
static void bind_slots(float **ptrs, const int *bufs, int nbuf, int t, char *base) {
  for (int i = 0; i < nbuf; i++) {
    const int *b = bufs + 3 * i;
    ptrs[i] = (float *)((unsigned long)base + (unsigned)b[0]) + (long)b[1] * (b[2] ? t % b[2] : t);
  }
}

/* A pre or post section over steps lo … lo + count − 1: the pointers of step lo, then its products. */
static void run_section(const int *ops, int n, float **ptrs, const int *bufs, int nbuf, int lo, int count, char *base) {
  bind_slots(ptrs, bufs, nbuf, lo, base);
  for (int k = 0; k < n;) k += run_op(ops + OP_WORDS * k, ptrs, count);
}

/*
 * Run the program for `steps` steps, t = t0, t0 + dt, …; `ptrs` is room for nbuf pointers, buffer
 * addresses are offsets from `base`. Chunks are the blocks of `chunk` steps aligned at t = 0 (a
 * mod-chunk store holds one block).
 */
static void trace_steps(const int *code, float **ptrs, int steps, int t0, int dt, char *base) {
  int nbuf = code[0], nops = code[1], ncopies = code[2], npre = code[3], npost = code[4], chunk = code[5] > 0 ? code[5] : 1;
  const int *bufs = code + 6, *ops = bufs + 3 * nbuf, *pre = ops + OP_WORDS * nops, *post = pre + OP_WORDS * npre,
            *copies = post + OP_WORDS * npost;
  int tmin = dt > 0 ? t0 : t0 - steps + 1, tmax = tmin + steps - 1;
  for (int s = 0, t = t0; s < steps; s++, t += dt) {
    int block = t / chunk * chunk, lo = block > tmin ? block : tmin, hi = block + chunk - 1 < tmax ? block + chunk - 1 : tmax;
    if (npre && t == (dt > 0 ? lo : hi)) run_section(pre, npre, ptrs, bufs, nbuf, lo, hi - lo + 1, base);
    bind_slots(ptrs, bufs, nbuf, t, base);
    for (int k = 0; k < nops;) k += run_op(ops + OP_WORDS * k, ptrs, 1);
    for (int k = 0; k < ncopies; k++) {
      const int *c = copies + 4 * k;
      float *dst = ptrs[c[1]];
      if (c[0] < 0) {
        if (!c[3]) cs_zero(dst, c[2]);
        continue;
      }
      const float *src = ptrs[c[0]];
      if (!c[3]) {
        if (dst != src) cs_copy(dst, src, c[2]);
        continue;
      }
      int i = 0;
      for (; i + VN <= c[2]; i += VN) VST(dst + i, VADD(VLD(dst + i), VLD(src + i)));
      for (; i < c[2]; i++) dst[i] += src[i];
    }
    if (npost && t == (dt > 0 ? hi : lo)) run_section(post, npost, ptrs, bufs, nbuf, lo, hi - lo + 1, base);
  }
}
