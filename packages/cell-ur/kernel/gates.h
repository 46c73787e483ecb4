/*
 * The UR gate mechanism of src/gates.ts on one batch row, shared by urlstm.c and urgru.c.
 * A row `a` of the gate block holds the activated pre-activations: σ(z) for sigmoid
 * blocks, softmax(z) for cumax blocks (cumax = cumsum of it, recomputed when needed, so
 * the softmax backward has p exactly). Block order as gateLayout: main, then refine (1) |
 * master input, aux[, input] (2) | [input] (0).
 */
#include "cellstack_kernel.h"

enum { UR_NONE = 0, UR_REFINE = 1, UR_MASTER = 2 };

typedef struct {
  int H, M, C;       /* units, main-gate width (H, or H / chunk for master gates), chunk */
  int refine, cumax; /* UR_NONE | UR_REFINE | UR_MASTER; main activation cumax (else sigmoid) */
  int width;         /* gate block width */
  int nCumax;        /* leading blocks (M wide each) that go through softmax */
  int oMirror;       /* the block activated like main (σ, or 1 − cumax): input (0) / master input (2); -1 = none */
  int oAux, oInput;  /* master: fine forget / fine input (σ) gates; -1 = none */
} ur_layout;

static ur_layout ur_layout_of(int H, int refine, int cumax, int chunk, int inputGate) {
  int C = refine == UR_MASTER ? chunk : 1, M = H / C;
  ur_layout L = {H, M, C, refine, cumax, H, 0, -1, -1, -1};
  if (refine == UR_REFINE) {
    L.width = 2 * H;
  } else if (refine == UR_MASTER) {
    L.oMirror = M;
    L.oAux = 2 * M;
    if (inputGate) L.oInput = 2 * M + H;
    L.width = 2 * M + H + (inputGate ? H : 0);
  } else if (inputGate) {
    L.oMirror = H;
    L.width = 2 * H;
  }
  L.nCumax = cumax ? (L.oMirror >= 0 ? 2 : 1) : 0;
  return L;
}

CS_MAP_INPLACE(ur_exp_inplace, f4exp, cs_exp)

static void ur_softmax(float *z, int n) {
  float m = z[0], s = 0;
  for (int i = 1; i < n; i++) m = z[i] > m ? z[i] : m;
  for (int i = 0; i < n; i++) z[i] -= m;
  ur_exp_inplace(z, n);
  for (int i = 0; i < n; i++) s += z[i];
  for (int i = 0; i < n; i++) z[i] /= s;
}

/* Activate one row in place: softmax on the cumax blocks, σ on the rest of the block and `extra` columns after it. */
static void ur_activate(const ur_layout *L, float *a, int extra) {
  for (int k = 0; k < L->nCumax; k++) ur_softmax(a + k * L->M, L->M);
  int s = L->nCumax * L->M;
  cs_sigmoid_inplace(a + s, L->width + extra - s);
}

/* Main gate values (length M) and the mirror's, from a row: σ stored as is; cumax = cumsum(p), mirror 1 − cumax. */
static void ur_main_values(const ur_layout *L, const float *a, const float **Fm, const float **Im, float *work) {
  *Fm = a;
  *Im = L->oMirror >= 0 ? a + L->oMirror : 0;
  if (!L->cumax) return;
  float acc = 0;
  for (int i = 0; i < L->M; i++) work[i] = (acc += a[i]);
  *Fm = work;
  if (*Im) {
    acc = 0;
    for (int i = 0; i < L->M; i++) work[L->M + i] = 1.0f - (acc += (*Im)[i]);
    *Im = work + L->M;
  }
}

/*
 * The retention gate E and, when the mechanism has an untied input gate, that gate I
 * (computeGates' `effective` and `input`). Returns 1 when I was written (untied), else 0
 * (the cell uses 1 − E). work: 2M floats.
 */
static int ur_combine(const ur_layout *L, const float *a, float *E, float *I, float *work) {
  int H = L->H, C = L->C;
  const float *F, *Im;
  ur_main_values(L, a, &F, &Im, work);
  if (L->refine == UR_REFINE) {
    const float *r = a + H;
    for (int j = 0; j < H; j++) {
      float f = F[j], f2 = f * f;
      E[j] = f2 + (r[j] * 2.0f) * (f - f2);
    }
    return 0;
  }
  if (L->refine == UR_MASTER) {
    const float *f = a + L->oAux, *i = L->oInput >= 0 ? a + L->oInput : 0;
    for (int m = 0; m < L->M; m++)
      for (int j = m * C; j < (m + 1) * C; j++) {
        float w = F[m] * Im[m], ij = i ? i[j] : 1.0f - f[j];
        E[j] = f[j] * w + (F[m] - w);
        I[j] = ij * w + (Im[m] - w);
      }
    return 1;
  }
  cs_copy(E, F, H);
  if (!Im) return 0;
  cs_copy(I, Im, H);
  return 1;
}

/* Backward of cumax = cumsum∘softmax given p and dc (times sign, −1 for 1 − cumax): dz = p (dp − Σ p dp), dp = reverse cumsum of dc. */
static void ur_cumax_backward(float *dz, const float *p, const float *dc, int n, float sign) {
  float acc = 0, dot = 0;
  for (int j = n - 1; j >= 0; j--) {
    acc += sign * dc[j];
    dz[j] = acc;
    dot += p[j] * acc;
  }
  for (int j = 0; j < n; j++) dz[j] = p[j] * (dz[j] - dot);
}

/* Gradient of the gate block's pre-activations (dz, `width` floats) given dE and dI (untied only). work: 4M + H floats. */
static void ur_gates_backward(const ur_layout *L, const float *a, const float *dE, const float *dI, float *dz, float *work) {
  int H = L->H, M = L->M, C = L->C;
  const float *F, *Im;
  ur_main_values(L, a, &F, &Im, work);
  float *dF = work + 2 * M, *dIm = dF + M, *dmain = dIm + M;
  if (L->refine == UR_REFINE) {
    const float *r = a + H;
    for (int j = 0; j < H; j++) {
      float f = F[j];
      dmain[j] = dE[j] * (2.0f * f + 2.0f * r[j] * (1.0f - 2.0f * f));
      dz[H + j] = dE[j] * 2.0f * (f - f * f) * r[j] * (1.0f - r[j]);
    }
  } else if (L->refine == UR_MASTER) {
    const float *f = a + L->oAux, *i = L->oInput >= 0 ? a + L->oInput : 0;
    for (int m = 0; m < M; m++) {
      float sF = 0, sI = 0;
      for (int j = m * C; j < (m + 1) * C; j++) {
        float w = F[m] * Im[m], ij = i ? i[j] : 1.0f - f[j];
        float dw = dE[j] * (f[j] - 1.0f) + dI[j] * (ij - 1.0f);
        sF += dE[j] + dw * Im[m];
        sI += dI[j] + dw * F[m];
        float df = dE[j] * w, di = dI[j] * w;
        if (i) dz[L->oInput + j] = di * ij * (1.0f - ij);
        else df -= di; /* GRU: i = 1 − f */
        dz[L->oAux + j] = df * f[j] * (1.0f - f[j]);
      }
      dF[m] = sF;
      dIm[m] = sI;
    }
    dmain = dF;
  } else {
    cs_copy(dmain, dE, H);
    if (Im) cs_copy(dIm, dI, H);
  }
  /* The main gate and its mirror through their activations. */
  if (L->cumax) {
    ur_cumax_backward(dz, a, dmain, M, 1.0f);
    if (Im) ur_cumax_backward(dz + L->oMirror, a + L->oMirror, dIm, M, -1.0f);
  } else {
    for (int j = 0; j < M; j++) dz[j] = dmain[j] * F[j] * (1.0f - F[j]);
    if (Im)
      for (int j = 0; j < M; j++) dz[L->oMirror + j] = dIm[j] * Im[j] * (1.0f - Im[j]);
  }
}
