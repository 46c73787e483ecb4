import * as tf from '@tensorflow/tfjs-core';
import type { CellInstance, FusedResult, Params, State } from '../cell.js';
import { runGpuProgram, runGpuProgramInto, type GpuProgram } from '../gpu-program.js';
import { sizeOf, type AdjointProgram, type BufferInfo, type Op, type StepProgram } from '../trace/ir.js';
import { tracedProgram } from '../trace/traced.js';
import { perStepInputs, type StepShapes } from '../trace/tracer.js';
import { WGSL_IR_HELPERS, WgslEmitter, workgroupsWanted, type Grid, type Place } from './wgsl-emit.js';
import { phases, type Item } from './wgsl-schedule.js';

/**
 * A traced cell's whole sequence on webgpu as WGSL programs emitted from its step IR: the
 * forward sweep runs the step program for t = 0 … T−1, the backward sweep the adjoint
 * program for t = T−1 … 0. Each step's ops are split into phases (wgsl-schedule.ts): a phase
 * needs every value an earlier phase wrote, anywhere. Two layouts:
 * - one workgroup (small steps): one program, one dispatch per sweep, looping over time with
 *   a storage barrier between phases;
 * - many workgroups: per step one dispatch per phase (NWG workgroups of 256 threads, products
 *   as tiles), after a prologue dispatch (initial copies, constant fills) and, backward, an
 *   epilogue; tf records them all into its compute pass, and the dispatch boundary is the
 *   global barrier WebGPU lacks inside a dispatch.
 * Every value stays in GPU buffers and nothing is read back.
 *
 * Buffers (all flat f32):
 * - X, the programs' input: the time-major projected inputs, the initial states, the
 *   parameters, the `begin` constants and the step's literals, concatenated by tf (so tf's
 *   concat gradient routes each part of dX back to its tensor).
 * - R, the forward result: [outputs T·B·O | per state (T+1)·B·s | saved values T·n | temps].
 *   The layer's output and final states are slices of R; the backward pass reads the
 *   states and saved values from it (the adjoint recomputes the elementwise rest).
 * - G, the backward result: [dX | state seeds, two per state | temps], dX in X's layout; its
 *   input dR has R's layout (tf's slice gradients), giving the seeds dL/d(output_t) and
 *   dL/d(final state). Step u reads seed slot u % 2 and writes slot 1 − u % 2, so no
 *   phase overwrites a seed another phase of the same step still reads.
 */

/** A sweep's programs: `start` creates the result (and, in the one-workgroup layout, runs everything). */
interface Sweep {
  start: GpuProgram;
  /** Run in order for every step, the step's index in uniform `s`. */
  steps: GpuProgram[];
  end?: GpuProgram;
}

interface Plan {
  forward: Sweep;
  backward: Sweep;
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

/** Threads of the one workgroup: enough for the biggest buffer, 32 to 256. */
const threads = (P: StepProgram, A: AdjointProgram) => {
  // The adjoint's buffer table extends the forward's.
  const biggest = Math.max(...[...P.ops, ...A.ops].map((o) => sizeOf(A.buffers[o.out].shape)));
  let n = 32;
  while (n < biggest && n < 256) n *= 2;
  return n;
};

/** Threads per workgroup and the most workgroups of one dispatch in the many-workgroup layout. */
const WIDE_NT = 256;
const MAX_WORKGROUPS = 1024;

/** FNV-1a of the code: tf caches pipelines by shaderKey, which must differ where the code does. */
function hash(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(36) + s.length.toString(36);
}

/** A program of grid.NWG workgroups; `step` ('fwd' | 'bwd') binds t (and u, the step's position in the backward sweep) from uniform s. */
function program(name: string, inputs: string[], size: number, grid: Grid, e: WgslEmitter, T: number, step?: 'fwd' | 'bwd'): GpuProgram {
  const { NT, NWG } = grid;
  const bind = step === 'fwd' ? 'let t = uniforms.s;' : step === 'bwd' ? `let u = uniforms.s; let t = ${T - 1} - u;` : '';
  const code = `${WGSL_IR_HELPERS}
${e.declarations()}
const NT = ${NT};
const NTOT = ${NT * NWG};
fn main(index : i32) {
  let tid = i32(localId.x);
  let wg = i32(workgroupId.x);
  let gid = wg * NT + tid;
  // Every binding used, or the pipeline's automatic layout drops it and tf's bind group fails.
  _ = uniforms.NAN;${inputs.map((x) => ` _ = ${x}[0];`).join('')}
  ${bind}
${e.code()}
}`;
  return {
    variableNames: inputs,
    outputShape: [size],
    shaderKey: `cellstack_ir_${name}_${hash(code)}`,
    dispatchLayout: { x: [0] },
    dispatch: [NWG, 1, 1],
    workgroupSize: [NT, 1, 1],
    ...(step ? { uniforms: 's : i32,' } : {}),
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
 * Up to this many multiply-adds per step in the step's products, one workgroup runs the whole
 * sweep in one dispatch (no per-step dispatch cost); past it, the many-workgroup layout. A
 * guess, not measured on a GPU yet; CELLSTACK_WGSL_ONE_WORKGROUP_MACS overrides it.
 */
const oneWorkgroupMacs = () => Number(process.env.CELLSTACK_WGSL_ONE_WORKGROUP_MACS ?? 1 << 16);

function macs(p: StepProgram): number {
  let n = 0;
  for (const o of p.ops) {
    if (o.op !== 'matmul') continue;
    const a = p.buffers[o.a].shape;
    n += sizeOf(p.buffers[o.out].shape) * (o.transA ? a[a.length - 2] : a[a.length - 1]);
  }
  return n;
}

/** A sweep's programs from its pieces: before the loop, the step's items, after the loop. */
interface SweepParts {
  name: 'fwd' | 'bwd';
  inputs: string[];
  size: number;
  buffers: BufferInfo[];
  at: (id: number) => Place;
  /** Statements before the loop (own loops only; they are followed by a barrier). */
  before: (e: WgslEmitter) => void;
  items: Item[];
  after?: (e: WgslEmitter) => void;
}

function sweep(parts: SweepParts, T: number, oneNT: number | undefined): Sweep {
  const steps = phases(parts.items, parts.buffers);
  const emitter = (grid: Grid) => new WgslEmitter(parts.buffers, parts.at, grid);
  const make = (name: string, grid: Grid, e: WgslEmitter, step?: boolean) => program(`${parts.name}_${name}`, parts.inputs, parts.size, grid, e, T, step ? parts.name : undefined);
  if (oneNT !== undefined) {
    const grid = { NT: oneNT, NWG: 1 };
    const e = emitter(grid);
    parts.before(e);
    e.barrier();
    e.raw(parts.name === 'fwd' ? `for (var t = 0; t < ${T}; t++) {` : `for (var u = 0; u < ${T}; u++) {\n  let t = ${T - 1} - u;`);
    for (const p of steps) {
      e.phase(p);
      e.barrier();
    }
    e.raw('}');
    parts.after?.(e);
    return { start: make('all', grid, e), steps: [] };
  }
  // Many workgroups: the prologue and epilogue are plain copies and fills.
  const edge = (fill: (e: WgslEmitter) => void, n: number) => {
    const grid = { NT: WIDE_NT, NWG: Math.min(MAX_WORKGROUPS, Math.max(1, Math.ceil(n / WIDE_NT))) };
    const e = emitter(grid);
    fill(e);
    return { grid, e };
  };
  const start = edge(parts.before, parts.size);
  const end = parts.after && edge(parts.after, parts.size);
  return {
    start: make('start', start.grid, start.e),
    steps: steps.map((p, k) => {
      const grid = { NT: WIDE_NT, NWG: Math.min(MAX_WORKGROUPS, workgroupsWanted(p, parts.buffers, WIDE_NT)) };
      const e = emitter(grid);
      e.phase(p);
      return make(`p${k}`, grid, e, true);
    }),
    ...(end ? { end: make('end', end.grid, end.e) } : {}),
  };
}

function plan(P: StepProgram, A: AdjointProgram, names: { inputs: string[]; state: string[]; params: string[]; constants: string[] }, B: number, T: number, oneWorkgroup: boolean): Plan {
  const oneNT = oneWorkgroup ? threads(P, A) : undefined;
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
  const out = (base: number | string): Place => ({ arr: 'result', base: `${base}` });
  // Fills are the same every step (SSA: nothing overwrites them): once, before the loop.
  const fills = (ops: Op[]): Item[] => ops.filter((o) => o.op === 'fill').map((op) => ({ op }));
  const rest = (ops: Op[]): Item[] => ops.filter((o) => o.op !== 'fill').map((op) => ({ op }));

  // Forward.
  const R = new Layout();
  const rOut = R.take(T * B * O);
  const rState = sizes.map((s) => R.take((T + 1) * s));
  const rSaved = A.saved.map((id) => R.take(T * n(id)));
  const fp = new Map<number, Place>();
  shared(fp, P, 'xin');
  names.state.forEach((k, i) => fp.set(P.state[k], { arr: 'result', base: `${rState[i]} + t * ${sizes[i]}` }));
  temps(P.ops, P.buffers, fp, 'result', R);
  const forward = sweep(
    {
      name: 'fwd',
      inputs: ['xin'],
      size: R.size,
      buffers: P.buffers,
      at: resolver(fp, P.buffers),
      before: (e) => {
        sizes.forEach((s, i) => e.copy(out(rState[i]), { arr: 'xin', base: `${xState[i]}` }, s));
        e.phase(fills(P.ops));
      },
      items: [
        ...rest(P.ops),
        { copy: { dst: out(`${rOut} + t * ${B * O}`), src: P.output, n: B * O } },
        ...names.state.map((k, i): Item => ({ copy: { dst: out(`${rState[i]} + (t + 1) * ${sizes[i]}`), src: P.nextState[k], n: sizes[i] } })),
        ...A.saved.map((id, i): Item => ({ copy: { dst: out(`${rSaved[i]} + t * ${n(id)}`), src: id, n: n(id) } })),
      ],
    },
    T,
    oneNT,
  );

  // Backward: forward values from X and R, seeds dL/d(output_t) from dR, the rest in G.
  const G = new Layout();
  G.take(X.size);
  const gSeed = sizes.map((s) => G.take(2 * s));
  const bp = new Map<number, Place>();
  shared(bp, A, 'xin');
  names.state.forEach((k, i) => bp.set(A.state[k], { arr: 'fwd', base: `${rState[i]} + t * ${sizes[i]}` }));
  const written = new Set(A.ops.map((o) => o.out));
  A.saved.forEach((id, i) => written.has(id) || bp.set(id, { arr: 'fwd', base: `${rSaved[i]} + t * ${n(id)}` }));
  bp.set(A.seedOutput, { arr: 'dr', base: `${rOut} + t * ${B * O}` });
  names.state.forEach((k, i) => bp.set(A.seedState[k], out(`${gSeed[i]} + (u % 2) * ${sizes[i]}`)));
  temps(A.ops, A.buffers, bp, 'result', G);
  const copy = (dst: Place, src: number | undefined, count: number, accumulate = false): Item => ({ copy: { dst, src, n: count, accumulate } });
  const backward = sweep(
    {
      name: 'bwd',
      inputs: ['xin', 'fwd', 'dr'],
      size: G.size,
      buffers: A.buffers,
      at: resolver(bp, A.buffers),
      before: (e) => {
        e.copy(out(0), undefined, X.size);
        sizes.forEach((s, i) => e.copy(out(gSeed[i]), { arr: 'dr', base: `${rState[i] + T * s}` }, s));
        e.phase(fills(A.ops));
      },
      items: [
        ...rest(A.ops),
        ...names.inputs.map((k, i) => copy(out(`${xIn[i]} + t * ${B * widths[i]}`), A.gradInputs[k], B * widths[i])),
        ...names.params.flatMap((k, i) => (A.gradParams[k] === undefined ? [] : [copy(out(xParam[i]), A.gradParams[k], n(P.params[k]), true)])),
        ...names.constants.flatMap((k, i) => (A.gradConstants[k] === undefined ? [] : [copy(out(xConst[i]), A.gradConstants[k], n(P.constants[k]), true)])),
        // dL/d(state_{t−1}): the next step's seed, in the other slot.
        ...names.state.map((k, i) => copy(out(`${gSeed[i]} + (1 - u % 2) * ${sizes[i]}`), A.gradState[k], sizes[i])),
      ],
      after: (e) => sizes.forEach((s, i) => e.copy(out(xState[i]), out(gSeed[i] + (T % 2) * s), s)),
    },
    T,
    oneNT,
  );

  return {
    forward,
    backward,
    xSize: X.size,
    literals,
    outputSize: O,
    stateOffsets: rState.map((o, i) => o + T * sizes[i]),
  };
}

/** A sweep's dispatches; the result is `start`'s output, which the later programs update in place. */
function runSweep(s: Sweep, inputs: tf.Tensor[], T: number): tf.Tensor {
  // A copy per run: tf appends to the program's shaderKey (and sets its dispatch) on every run.
  const result = runGpuProgram({ ...s.start }, inputs);
  for (let t = 0; t < T && s.steps.length; t++) for (const p of s.steps) runGpuProgramInto({ ...p }, inputs, result, [t]);
  if (s.end) runGpuProgramInto({ ...s.end }, inputs, result);
  return result;
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
  const oneWorkgroup = macs(traced.forward) <= oneWorkgroupMacs();
  const key = oneWorkgroup ? T : -T;
  let p = byT.get(key);
  if (p === undefined) {
    try {
      p = plan(traced.forward, traced.adjoint, names, B, T, oneWorkgroup);
    } catch (e) {
      p = `no WGSL for this step: ${e instanceof Error ? e.message : String(e)}`;
    }
    byT.set(key, p);
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
    const R = runSweep(pl.forward, [xs], T);
    save([xs, R]);
    return {
      value: R,
      gradFunc: (dR: tf.Tensor, [xSaved, rSaved]: tf.Tensor[]) => tf.slice(runSweep(pl.backward, [xSaved, rSaved, dR], T), [0], [pl.xSize]),
    };
  });
  const R = whole(X);
  const O = pl.outputSize;
  const output = tf.transpose(tf.reshape(tf.slice(R, [0], [T * B * O]), [T, B, O]), [1, 0, 2]) as tf.Tensor3D;
  const state = Object.fromEntries(names.state.map((k, i) => [k, tf.reshape(tf.slice(R, [pl.stateOffsets[i]], [B * cell.state[k]]), [B, cell.state[k]])])) as State;
  return { output, state };
}
