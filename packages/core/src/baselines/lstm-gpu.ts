import * as tf from '@tensorflow/tfjs-core';
import type { FusedResult, Params, State } from '../cell.js';
import { WGSL_ACTIVATIONS, rowThreads, runGpuProgram, type GpuProgram } from '../gpu-program.js';

/**
 * LSTM on webgpu as whole-sequence WGSL programs. The input projection x W + b (all steps
 * at once) and the weight gradients are tf's tiled matmul programs; the recurrence is one
 * program per direction: one workgroup per batch row walks all T steps, h_{t−1} (forward)
 * or the gate gradients (backward) in workgroup memory between steps. Parameters, states
 * and Adam's slots stay in GPU buffers; nothing is read back.
 *
 * Forward packs, per (b, t), [h, c, i, f, c̃, o] (6H): the output and the final state are
 * slices of it, and backward reads the gates from it (only h and c are ever consumed, so
 * backward reads the incoming gradient of those two and not of the gate slots).
 *
 * GPU dispatches per layer and training step (counted on lavapipe): forward 5 (projection
 * with bias, recurrence, three slices), backward 12 (the output slice's gradient, recurrence,
 * four slices and a concat for dz, h_{t−1}, dh0, dc0, dU, and the projection's dW, dx with a
 * transpose, db); more when the final state feeds the loss too. Read-backs: none.
 */
const MAX_UNITS = 1024; // backward keeps 4H gate gradients in workgroup memory (16 KiB, WebGPU's minimum)

function forwardProgram(B: number, T: number, H: number): GpuProgram {
  const { threads, perThread: K } = rowThreads(H);
  return {
    variableNames: ['xw', 'U', 'h0', 'c0'],
    outputShape: [B, T, 6 * H],
    shaderKey: `cellstack_lstm_fwd_${H}_${threads}`,
    dispatchLayout: { x: [0, 1, 2] },
    dispatch: [B, 1, 1],
    workgroupSize: [threads, 1, 1],
    uniforms: 'T : i32, H : i32,',
    getUserCode: () => `
${WGSL_ACTIVATIONS}
const NT = ${threads};
const K = ${K};
var<workgroup> hs : array<f32, ${H}>;

fn main(index : i32) {
  let H = uniforms.H;
  let b = i32(workgroupId.x);
  let tid = i32(localId.x);
  var c : array<f32, K>;
  var hn : array<f32, K>;
  for (var k = 0; k < K; k++) {
    let j = tid + k * NT;
    if (j < H) { hs[j] = h0[b * H + j]; c[k] = c0[b * H + j]; }
  }
  workgroupBarrier();
  for (var t = 0; t < uniforms.T; t++) {
    let zrow = (b * uniforms.T + t) * 4 * H;
    let orow = (b * uniforms.T + t) * 6 * H;
    for (var k = 0; k < K; k++) {
      let j = tid + k * NT;
      if (j < H) {
        var zi = xw[zrow + j];
        var zf = xw[zrow + H + j];
        var zg = xw[zrow + 2 * H + j];
        var zo = xw[zrow + 3 * H + j];
        for (var m = 0; m < H; m++) {
          let hm = hs[m];
          let u = m * 4 * H + j;
          zi += hm * U[u];
          zf += hm * U[u + H];
          zg += hm * U[u + 2 * H];
          zo += hm * U[u + 3 * H];
        }
        let i = sigm(zi);
        let f = sigm(zf);
        let g = tanhs(zg);
        let o = sigm(zo);
        c[k] = f * c[k] + i * g;
        hn[k] = o * tanhs(c[k]);
        result[orow + j] = hn[k];
        result[orow + H + j] = c[k];
        result[orow + 2 * H + j] = i;
        result[orow + 3 * H + j] = f;
        result[orow + 4 * H + j] = g;
        result[orow + 5 * H + j] = o;
      }
    }
    workgroupBarrier();
    for (var k = 0; k < K; k++) {
      let j = tid + k * NT;
      if (j < H) { hs[j] = hn[k]; }
    }
    workgroupBarrier();
  }
}`,
  };
}

/** Gradients: per row b, [dz (T·4H) | dh0 (H) | dc0 (H)], dz being d(x W + b) per step. */
function backwardProgram(B: number, T: number, H: number): GpuProgram {
  const { threads, perThread: K } = rowThreads(H);
  return {
    variableNames: ['dy', 'P', 'U', 'c0'],
    outputShape: [B, (4 * T + 2) * H],
    shaderKey: `cellstack_lstm_bwd_${H}_${threads}`,
    dispatchLayout: { x: [0, 1] },
    dispatch: [B, 1, 1],
    workgroupSize: [threads, 1, 1],
    uniforms: 'T : i32, H : i32,',
    getUserCode: () => `
const NT = ${threads};
const K = ${K};
var<workgroup> dzs : array<f32, ${4 * H}>;

fn main(index : i32) {
  let H = uniforms.H;
  let b = i32(workgroupId.x);
  let tid = i32(localId.x);
  let row = b * (4 * uniforms.T + 2) * H;
  var dhr : array<f32, K>;
  var dcc : array<f32, K>;
  for (var t = uniforms.T - 1; t >= 0; t--) {
    let base = (b * uniforms.T + t) * 6 * H;
    for (var k = 0; k < K; k++) {
      let j = tid + k * NT;
      if (j < H) {
        let dh = dy[base + j] + dhr[k];
        let c = P[base + H + j];
        let i = P[base + 2 * H + j];
        let f = P[base + 3 * H + j];
        let g = P[base + 4 * H + j];
        let o = P[base + 5 * H + j];
        var cp = c0[b * H + j];
        if (t > 0) { cp = P[base - 6 * H + H + j]; }
        let e = exp(-2.0 * abs(c));
        let tc = sign(c) * (1.0 - e) / (1.0 + e);
        let dc = dcc[k] + dy[base + H + j] + dh * o * (1.0 - tc * tc);
        let dzi = dc * g * i * (1.0 - i);
        let dzf = dc * cp * f * (1.0 - f);
        let dzg = dc * i * (1.0 - g * g);
        let dzo = dh * tc * o * (1.0 - o);
        dcc[k] = dc * f;
        dzs[j] = dzi;
        dzs[H + j] = dzf;
        dzs[2 * H + j] = dzg;
        dzs[3 * H + j] = dzo;
        let out = row + t * 4 * H + j;
        result[out] = dzi;
        result[out + H] = dzf;
        result[out + 2 * H] = dzg;
        result[out + 3 * H] = dzo;
      }
    }
    workgroupBarrier();
    for (var k = 0; k < K; k++) {
      let j = tid + k * NT;
      if (j < H) {
        var s = 0.0;
        for (var m = 0; m < 4 * H; m++) { s += dzs[m] * U[j * 4 * H + m]; }
        dhr[k] = s;
      }
    }
    workgroupBarrier();
  }
  for (var k = 0; k < K; k++) {
    let j = tid + k * NT;
    if (j < H) {
      result[row + 4 * uniforms.T * H + j] = dhr[k];
      result[row + (4 * uniforms.T + 1) * H + j] = dcc[k];
    }
  }
}`,
  };
}

/** LSTM's GPU kernel (the webgpu counterpart of lstmFused), or undefined above MAX_UNITS units. */
export function lstmGpu(x: tf.Tensor3D, { h, c }: State, p: Params): FusedResult | undefined {
  const [B, T, F] = x.shape;
  const H = h.shape[1];
  if (H > MAX_UNITS) return undefined;
  const xw = tf.reshape(tf.fused.matMul({ a: tf.reshape(x, [B * T, F]), b: p.kernel as tf.Tensor2D, bias: p.bias }), [B, T, 4 * H]);
  const recur = tf.customGrad((...args: unknown[]) => {
    const [z, U, h0, c0] = args as tf.Tensor[];
    const save = args[4] as tf.GradSaveFunc;
    const packed = runGpuProgram(forwardProgram(B, T, H), [z, U, h0, c0], [T, H]);
    save([U, h0, c0, packed]);
    return {
      value: packed,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [Us, h0s, c0s, P] = saved;
        const g = runGpuProgram(backwardProgram(B, T, H), [dy, P, Us, c0s], [T, H]);
        const dz = tf.reshape(tf.slice(g, [0, 0], [B, 4 * T * H]), [B * T, 4 * H]);
        // h_{t−1} for every step: h0, then the outputs but the last.
        const hPrev = T > 1 ? tf.concat([tf.reshape(h0s, [B, 1, H]), tf.slice(P, [0, 0, 0], [B, T - 1, H])], 1) : tf.reshape(h0s, [B, 1, H]);
        const dU = tf.matMul(tf.reshape(hPrev, [B * T, H]), dz, true, false);
        return [tf.reshape(dz, [B, T, 4 * H]), dU, tf.slice(g, [0, 4 * T * H], [B, H]), tf.slice(g, [0, (4 * T + 1) * H], [B, H])];
      },
    };
  });
  const packed = recur(xw, p.recurrent, h, c) as tf.Tensor3D;
  return {
    output: tf.slice(packed, [0, 0, 0], [B, T, H]),
    state: {
      h: tf.reshape(tf.slice(packed, [0, T - 1, 0], [B, 1, H]), [B, H]) as tf.Tensor2D,
      c: tf.reshape(tf.slice(packed, [0, T - 1, H], [B, 1, H]), [B, H]) as tf.Tensor2D,
    },
  };
}
