/*
 * The traced-step interpreter for wasm: its one source is @cellstack/native's src/trace-interp.c
 * (the addon compiles the same file with 8 lanes), included here over 4-lane SIMD128 with the
 * toolkit's exp, sigmoid, tanh and cs_matmul (products of the host's size go to the addon).
 */
#include "cellstack_kernel.h"

typedef f4 vf;
enum { VN = 4 };
#define VLD f4ld
#define VST f4st
#define VS f4s
#define VADD wasm_f32x4_add
#define VSUB wasm_f32x4_sub
#define VMUL wasm_f32x4_mul
#define VDIV wasm_f32x4_div
#define VNEG wasm_f32x4_neg
#define VSQRT wasm_f32x4_sqrt
#define VABS wasm_f32x4_abs
#define VPMAX wasm_f32x4_pmax /* b > a ? b : a */
#define VGT wasm_f32x4_gt
#define VGE wasm_f32x4_ge
#define VLT wasm_f32x4_lt
#define VLE wasm_f32x4_le
#define VEQ wasm_f32x4_eq
#define VNE wasm_f32x4_ne
#define VAND wasm_v128_and
#define VOR wasm_v128_or
#define VSEL wasm_v128_bitselect /* (a, b, mask): mask ? a : b */
#define VEXP f4exp
#define VSIGMOID f4sigmoid
#define VTANH f4tanh

static inline float VHSUM(vf v) {
  return (wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)) + (wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3));
}
static inline float VHMAX(vf v) {
  float l0 = wasm_f32x4_extract_lane(v, 0), l1 = wasm_f32x4_extract_lane(v, 1), l2 = wasm_f32x4_extract_lane(v, 2),
        l3 = wasm_f32x4_extract_lane(v, 3);
  float m01 = l1 > l0 ? l1 : l0, m23 = l3 > l2 ? l3 : l2;
  return m23 > m01 ? m23 : m01;
}

#define FUSED_RUN(h, p, tiles) fused_tiles(h, p, 0, tiles)
#include "../../native/src/trace-interp.c"

/* trace_run(code, ptrs, steps, t0, dt): the program at `code` over `steps` steps; ptrs: room for its nbuf pointers. */
CS_EXPORT(trace_run)(const int *code, float **ptrs, int steps, int t0, int dt) { trace_steps(code, ptrs, steps, t0, dt, 0); }
