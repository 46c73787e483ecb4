import * as tf from '@tensorflow/tfjs-core';
import type { CellInstance, FusedResult, Params, State } from '../cell.js';
import { runGpuProgram, type GpuProgram } from '../gpu-program.js';
import { sizeOf, type AdjointProgram, type Op, type StepProgram } from '../trace/ir.js';
import { tracedProgram } from '../trace/traced.js';
import { perStepInputs, type StepShapes } from '../trace/tracer.js';
import { WGSL_IR_HELPERS, WgslEmitter, type Place } from './wgsl-emit.js';

/**
 * A traced cell's whole sequence on webgpu as two WGSL programs emitted from its step IR:
 * the forward program runs the step program for t = 0 … T−1, the backward program the
 * adjoint program for t = T−1 … 0, each in ONE dispatch. WebGPU has no barrier across
 * workgroups, so each program is one workgroup (up to 256 threads) looping over time with
 * a storage barrier between ops; every value stays in GPU buffers and nothing is read back.
 *
 * Buffers (all flat f32):
 * - X, the program's input: the time-major projected inputs, the initial states, the
 *   parameters, the `begin` constants and the step's literals, concatenated by tf (so tf's
 *   concat gradient routes each part of dX back to its tensor).
 * - R, the forward result: [outputs T·B·O | per state (T+1)·B·s | saved values T·n | temps].
 *   The layer's output and final states are slices of R; the backward pass reads the
 *   states and saved values from it (the adjoint recomputes the elementwise rest).
 * - G, the backward result: [dX | state seeds | staging | temps], dX in X's layout; its
 *   input dR has R's layout (tf's slice gradients), giving the seeds dL/d(output_t) and
 *   dL/d(final state).
 */

interface Plan {
  forward: GpuProgram;
  backward: GpuProgram;
  /** X's size and the offsets the caller needs. */
  xSize: number;
  literals: Float32Array;
  /** The step output's width. */
  outputSize: number;
  stateOffsets: number[];
}

/** Bump allocator of offsets (floats) in one flat buffer. */
class Layout {
  size = 0;
  take(n: number): number {
    const at = this.size;
    this.size += n;
    return at;
  }
}

const threads = (P: StepProgram, A: AdjointProgram) => {
  // The adjoint's buffer table extends the forward's.
  const biggest = Math.max(...[...P.ops, ...A.ops].map((o) => sizeOf(A.buffers[o.out].shape)));
  let n = 32;
  while (n < biggest && n < 256) n *= 2;
  return n;
};

/** FNV-1a of the code: tf caches pipelines by shaderKey, which must differ where the code does. */
function hash(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(36) + s.length.toString(36);
}

function program(name: string, inputs: string[], size: number, NT: number, body: string): GpuProgram {
  const code = `${WGSL_IR_HELPERS}
const NT = ${NT};
fn main(index : i32) {
  let tid = i32(localId.x);
  // Every binding used, or the pipeline's automatic layout drops it and tf's bind group fails.
  _ = uniforms.NAN;${inputs.map((x) => ` _ = ${x}[0];`).join('')}
${body}
}`;
  return {
    variableNames: inputs,
    outputShape: [size],
    shaderKey: `cellstack_ir_${name}_${hash(code)}`,
    dispatchLayout: { x: [0] },
    dispatch: [1, 1, 1],
    workgroupSize: [NT, 1, 1],
    getUserCode: () => code,
  };
}

/** Places of the buffers ops write (reshape: its operand's place), in `arr` after `layout`. */
function temps(ops: Op[], buffers: { shape: number[] }[], place: Map<number, Place>, arr: string, layout: Layout): void {
  for (const o of ops) {
    if (place.has(o.out)) continue;
    if (o.op === 'reshape') {
      const p = place.get(o.x);
      if (p) place.set(o.out, p);
    } else place.set(o.out, { arr, base: `${layout.take(sizeOf(buffers[o.out].shape))}` });
  }
}

const resolver = (place: Map<number, Place>, buffers: { name: string }[]) => (id: number) => {
  const p = place.get(id);
  if (!p) throw new Error(`the IR buffer ${buffers[id].name} is read but has no value on the GPU`);
  return p;
};

/**
 * One workgroup uses a sliver of a real GPU: past this many multiply-adds per step in the
 * step's products the generic loop (tf's programs over the whole GPU, one dispatch per op)
 * should be faster. A guess, not measured on a GPU yet; CELLSTACK_WGSL_MAX_MACS overrides it.
 */
const maxMacs = () => Number(process.env.CELLSTACK_WGSL_MAX_MACS ?? 1 << 23);

function macs(p: StepProgram): number {
  let n = 0;
  for (const o of p.ops) {
    if (o.op !== 'matmul') continue;
    const a = p.buffers[o.a].shape;
    n += sizeOf(p.buffers[o.out].shape) * (o.transA ? a[a.length - 2] : a[a.length - 1]);
  }
  return n;
}

function plan(P: StepProgram, A: AdjointProgram, names: { inputs: string[]; state: string[]; params: string[]; constants: string[] }, B: number, T: number): Plan {
  const NT = threads(P, A);
  const widths = names.inputs.map((k) => P.buffers[P.inputs[k]].shape[1]);
  const sizes = names.state.map((k) => sizeOf(P.buffers[P.state[k]].shape));
  const O = P.buffers[P.output].shape[1];
  const n = (id: number) => sizeOf(P.buffers[id].shape);

  // X: inputs, initial states, params, constants, literals (of both programs; the adjoint's ids extend the forward's).
  const X = new Layout();
  const xIn = widths.map((w) => X.take(T * B * w));
  const xState = sizes.map((s) => X.take(s));
  const xParam = names.params.map((k) => X.take(n(P.params[k])));
  const xConst = names.constants.map((k) => X.take(n(P.constants[k])));
  const lits = new Map<number, number[]>();
  for (const o of [...P.ops, ...A.ops]) if (o.op === 'literal') lits.set(o.out, o.values);
  const xLit = new Map([...lits].map(([id, v]) => [id, X.take(v.length)]));
  const literals = Float32Array.from([...lits.values()].flat());
  const shared = (place: Map<number, Place>, prog: StepProgram | AdjointProgram, arr: string) => {
    names.inputs.forEach((k, i) => place.set(prog.inputs[k], { arr, base: `${xIn[i]} + t * ${B * widths[i]}` }));
    names.params.forEach((k, i) => place.set(prog.params[k], { arr, base: `${xParam[i]}` }));
    names.constants.forEach((k, i) => place.set(prog.constants[k], { arr, base: `${xConst[i]}` }));
    for (const [id, at] of xLit) place.set(id, { arr, base: `${at}` });
  };

  // Forward.
  const R = new Layout();
  const rOut = R.take(T * B * O);
  const rState = sizes.map((s) => R.take((T + 1) * s));
  const rSaved = A.saved.map((id) => R.take(T * n(id)));
  const fp = new Map<number, Place>();
  shared(fp, P, 'xin');
  names.state.forEach((k, i) => fp.set(P.state[k], { arr: 'result', base: `${rState[i]} + t * ${sizes[i]}` }));
  temps(P.ops, P.buffers, fp, 'result', R);
  const f = new WgslEmitter(P.buffers, resolver(fp, P.buffers));
  const out = (base: number | string) => ({ arr: 'result', base: `${base}` });
  sizes.forEach((s, i) => f.copy(out(rState[i]), { arr: 'xin', base: `${xState[i]}` }, s));
  f.barrier();
  // Fills are the same every step (SSA: nothing overwrites them): once, before the loop.
  const fills = (ops: Op[]) => ops.filter((o) => o.op === 'fill');
  const rest = (ops: Op[]) => ops.filter((o) => o.op !== 'fill');
  f.ops(fills(P.ops));
  f.raw('for (var t = 0; t < ' + T + '; t++) {');
  f.ops(rest(P.ops));
  f.copy(out(`${rOut} + t * ${B * O}`), fp.get(P.output), B * O);
  names.state.forEach((k, i) => f.copy(out(`${rState[i]} + (t + 1) * ${sizes[i]}`), resolver(fp, P.buffers)(P.nextState[k]), sizes[i]));
  A.saved.forEach((id, i) => f.copy(out(`${rSaved[i]} + t * ${n(id)}`), resolver(fp, P.buffers)(id), n(id)));
  f.barrier();
  f.raw('}');

  // Backward: forward values from X and R, seeds dL/d(output_t) from dR, the rest in G.
  const G = new Layout();
  G.take(X.size);
  const gSeed = sizes.map((s) => G.take(s));
  const gStage = sizes.map((s) => G.take(s));
  const bp = new Map<number, Place>();
  shared(bp, A, 'xin');
  names.state.forEach((k, i) => bp.set(A.state[k], { arr: 'fwd', base: `${rState[i]} + t * ${sizes[i]}` }));
  const written = new Set(A.ops.map((o) => o.out));
  A.saved.forEach((id, i) => written.has(id) || bp.set(id, { arr: 'fwd', base: `${rSaved[i]} + t * ${n(id)}` }));
  bp.set(A.seedOutput, { arr: 'dr', base: `${rOut} + t * ${B * O}` });
  names.state.forEach((k, i) => bp.set(A.seedState[k], out(gSeed[i])));
  temps(A.ops, A.buffers, bp, 'result', G);
  const at = resolver(bp, A.buffers);
  const b = new WgslEmitter(A.buffers, at);
  const grad = (id: number | undefined) => (id === undefined ? undefined : at(id));
  b.copy(out(0), undefined, X.size);
  sizes.forEach((s, i) => b.copy(out(gSeed[i]), { arr: 'dr', base: `${rState[i] + T * s}` }, s));
  b.barrier();
  b.ops(fills(A.ops));
  b.raw(`for (var u = 0; u < ${T}; u++) {\n  let t = ${T - 1} - u;`);
  b.ops(rest(A.ops));
  names.inputs.forEach((k, i) => b.copy(out(`${xIn[i]} + t * ${B * widths[i]}`), grad(A.gradInputs[k]), B * widths[i]));
  names.params.forEach((k, i) => A.gradParams[k] !== undefined && b.copy(out(xParam[i]), at(A.gradParams[k]), n(P.params[k]), true));
  names.constants.forEach((k, i) => A.gradConstants[k] !== undefined && b.copy(out(xConst[i]), at(A.gradConstants[k]), n(P.constants[k]), true));
  // dL/d(state_{t−1}) becomes the next seed through a staging copy: a gradient may be another state's seed.
  names.state.forEach((k, i) => b.copy(out(gStage[i]), grad(A.gradState[k]), sizes[i]));
  b.barrier();
  sizes.forEach((s, i) => b.copy(out(gSeed[i]), out(gStage[i]), s));
  b.barrier();
  b.raw('}');
  sizes.forEach((s, i) => b.copy(out(xState[i]), out(gSeed[i]), s));

  return {
    forward: program('fwd', ['xin'], R.size, NT, f.code()),
    backward: program('bwd', ['xin', 'fwd', 'dr'], G.size, NT, b.code()),
    xSize: X.size,
    literals,
    outputSize: O,
    stateOffsets: rState.map((o, i) => o + T * sizes[i]),
  };
}

const plans = new WeakMap<object, Map<number, Plan | string>>();

/**
 * The cell's traced step over the whole of x [B, T, F] as emitted WGSL programs on webgpu, or
 * the one-line reason it cannot run there (the step does not trace, or the IR has no WGSL).
 * `begun` is what the cell's `begin` returned for this sequence.
 */
export function runTracedGpu(cell: CellInstance, params: Params, x: tf.Tensor3D, s0: State, begun: Record<string, tf.Tensor>, training: boolean): FusedResult | string {
  const [B, T, F] = x.shape;
  const flat = tf.reshape(tf.transpose(x, [1, 0, 2]), [T * B, F]) as tf.Tensor2D;
  const { inputs: perStep, constants } = perStepInputs(cell, begun);
  const projected = { ...(cell.project ? cell.project(flat, params) : { x: flat }), ...perStep };
  const shapes: StepShapes = {
    batch: B,
    inputs: Object.fromEntries(Object.entries(projected).map(([k, v]) => [k, v.shape[1]])),
    params: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v.shape])),
    constants: Object.fromEntries(Object.entries(constants).map(([k, v]) => [k, v.shape])),
  };
  const traced = tracedProgram(cell, shapes, training, T);
  if (typeof traced === 'string') return traced;
  const names = { inputs: Object.keys(projected), state: Object.keys(cell.state), params: traced.params, constants: Object.keys(constants) };
  let byT = plans.get(traced);
  if (!byT) plans.set(traced, (byT = new Map()));
  let p = byT.get(T);
  const work = macs(traced.forward);
  if (work > maxMacs()) return `the emitted WGSL runs in one workgroup, and this step's products (${work} multiply-adds) exceed CELLSTACK_WGSL_MAX_MACS = ${maxMacs()}`;
  if (p === undefined) {
    try {
      p = plan(traced.forward, traced.adjoint, names, B, T);
    } catch (e) {
      p = `no WGSL for this step: ${e instanceof Error ? e.message : String(e)}`;
    }
    byT.set(T, p);
  }
  if (typeof p === 'string') return p;
  const pl = p;
  const parts = [
    ...names.inputs.map((k) => projected[k]),
    ...names.state.map((k) => s0[k]),
    ...names.params.map((k) => params[k]),
    ...names.constants.map((k) => constants[k]),
    ...(pl.literals.length ? [tf.tensor1d(pl.literals)] : []),
  ].map((t) => tf.reshape(t, [-1]));
  const X = parts.length === 1 ? parts[0] : tf.concat(parts);
  const whole = tf.customGrad((...args: unknown[]) => {
    const xs = args[0] as tf.Tensor;
    const save = args[1] as tf.GradSaveFunc;
    // A copy per run: tf appends to the program's shaderKey (and sets its dispatch) on every run.
    const R = runGpuProgram({ ...pl.forward }, [xs]);
    save([xs, R]);
    return {
      value: R,
      gradFunc: (dR: tf.Tensor, [xSaved, rSaved]: tf.Tensor[]) => tf.slice(runGpuProgram({ ...pl.backward }, [xSaved, rSaved, dR]), [0], [pl.xSize]),
    };
  });
  const R = whole(X);
  const O = pl.outputSize;
  const output = tf.transpose(tf.reshape(tf.slice(R, [0], [T * B * O]), [T, B, O]), [1, 0, 2]) as tf.Tensor3D;
  const state = Object.fromEntries(names.state.map((k, i) => [k, tf.reshape(tf.slice(R, [pl.stateOffsets[i]], [B * cell.state[k]]), [B, cell.state[k]])])) as State;
  return { output, state };
}
