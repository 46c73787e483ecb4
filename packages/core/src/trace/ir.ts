/**
 * The step IR: what tracing a cell's `step` records, what reverse-mode AD derives, and what
 * an interpreter (JS here; C/wasm and WGSL emitters read the same data) runs T times.
 *
 * A program is a flat, serialisable list of typed ops over numbered buffers. Every buffer
 * has a static shape (the batch B is fixed when the program is traced, so no shape is
 * symbolic), row-major float32 contents, a role and a name for diagnostics. Ops read
 * buffers and write exactly one new buffer (SSA: a buffer is written by at most one op and
 * never before it is read-ready), so an emitter can allocate, fuse or reorder freely.
 * Booleans (comparisons) are stored as 0/1 floats.
 *
 * Broadcasting follows numpy (and tfjs): shapes align on the right, size-1 dims stretch.
 * Reductions keep the reduced dims as size 1; a following `reshape` drops them.
 */

/** Where a buffer's contents come from. */
export type BufferRole =
  /** One step's slice of a projected input: `[B, k]`. */
  | 'input'
  /** The state entering the step: `[B, s]`. */
  | 'state'
  /** A cell parameter, the same every step. */
  | 'param'
  /** A per-sequence constant from the cell's `begin` (dropout masks, parameter-only terms). */
  | 'constant'
  /** The adjoint (gradient) of a step result, supplied by the time loop in the backward pass. */
  | 'seed'
  /** A value saved per step by the forward pass and loaded by the backward pass. */
  | 'saved'
  /** Written by an op. */
  | 'temp';

export interface BufferInfo {
  shape: number[];
  role: BufferRole;
  /** Human-readable: `state.h`, `param.recurrent`, `t17`, `d(state.h)`. */
  name: string;
}

export type UnaryFn =
  | 'neg'
  | 'exp'
  | 'log'
  | 'sqrt'
  | 'rsqrt'
  | 'sigmoid'
  | 'tanh'
  | 'relu'
  | 'abs'
  | 'square'
  | 'reciprocal'
  /** sign(x): −1, 0, 1. */
  | 'sign'
  /** 1 where x > 0, else 0 (the derivative of relu). */
  | 'step';

export type BinaryFn =
  | 'add'
  | 'sub'
  | 'mul'
  | 'div'
  | 'max'
  | 'min'
  | 'pow'
  /** Comparisons give 0/1. */
  | 'greater'
  | 'greaterEqual'
  | 'less'
  | 'lessEqual'
  | 'equal'
  | 'notEqual';

/** One op. `out` is the buffer it writes; its shape is in the buffer table. */
export type Op =
  /** Fill `out` with one number (broadcast scalars, zeros). */
  | { op: 'fill'; out: number; value: number }
  /** A literal tensor recorded during tracing (e.g. `tf.tensor1d([...])` inside step). */
  | { op: 'literal'; out: number; values: number[] }
  | { op: 'unary'; fn: UnaryFn; out: number; x: number; alpha?: number }
  | { op: 'binary'; fn: BinaryFn; out: number; a: number; b: number }
  /** cond ≠ 0 ? a : b, broadcast. */
  | { op: 'select'; out: number; cond: number; a: number; b: number }
  /**
   * Batched product over the last two dims (leading dims broadcast): op(a)·op(b), op = ᵀ when
   * the flag is set. Runs through `cs_matmul` in the compiled interpreter.
   */
  | {
      op: 'matmul';
      out: number;
      a: number;
      b: number;
      transA: boolean;
      transB: boolean;
    }
  /** Sum or max over `axes`, which stay as size-1 dims in `out`. */
  | { op: 'reduce'; fn: 'sum' | 'max'; out: number; x: number; axes: number[] }
  | {
      op: 'cumsum';
      out: number;
      x: number;
      axis: number;
      exclusive: boolean;
      reverse: boolean;
    }
  /** Softmax over the last axis. */
  | { op: 'softmax'; out: number; x: number }
  /** The block of `x` starting at `begin` with `out`'s shape. */
  | { op: 'slice'; out: number; x: number; begin: number[] }
  /** Zeros of `out`'s shape with `x` placed at `begin` (the adjoint of slice). */
  | { op: 'pad'; out: number; x: number; begin: number[] }
  | { op: 'concat'; out: number; xs: number[]; axis: number }
  /** Same data, `out`'s shape (element count equal). */
  | { op: 'reshape'; out: number; x: number }
  | { op: 'transpose'; out: number; x: number; perm: number[] }
  /** Stretch `x` to `out`'s shape by numpy broadcasting (its adjoint is a reduce plus reshape). */
  | { op: 'broadcast'; out: number; x: number };

/** A program's buffers and ops, and its role buffers by the cell's names. */
export interface ProgramRoles {
  buffers: BufferInfo[];
  ops: Op[];
  inputs: Record<string, number>;
  state: Record<string, number>;
  params: Record<string, number>;
  constants: Record<string, number>;
}

/**
 * One recurrent step as a program: reads the step's inputs, the previous state, the
 * parameters and the per-sequence constants; writes the output and the next state.
 * `run(program)` T times is the cell's forward pass.
 */
export interface StepProgram extends ProgramRoles {
  /** Results: the step's output and next state by name. */
  output: number;
  nextState: Record<string, number>;
}

/**
 * The adjoint of one step, derived by `differentiate`. Per step t (running t = T−1 … 0) the
 * time loop binds the forward inputs of step t, the `saved` values the forward pass stored
 * for step t, and the seeds dL/d(output_t) and dL/d(state_t); the program recomputes the
 * cheap values it did not save, then writes dL/d(inputs_t) and dL/d(state_{t−1}) and this
 * step's contributions to dL/d(params) and dL/d(constants), which the loop sums over t.
 */
export interface AdjointProgram extends ProgramRoles {
  /** The role buffers are the forward program's (same ids), bound by the backward pass. */
  /** Forward buffers stored per step by the forward pass and bound here (same ids). */
  saved: number[];
  seedOutput: number;
  seedState: Record<string, number>;
  /** Results (a name is absent when the value does not reach the step's results). */
  gradInputs: Record<string, number>;
  gradState: Record<string, number>;
  gradParams: Record<string, number>;
  gradConstants: Record<string, number>;
}

/** The buffers an op reads. */
export function opInputs(o: Op): number[] {
  switch (o.op) {
    case 'fill':
    case 'literal':
      return [];
    case 'binary':
      return [o.a, o.b];
    case 'select':
      return [o.cond, o.a, o.b];
    case 'matmul':
      return [o.a, o.b];
    case 'concat':
      return o.xs;
    default:
      return [o.x];
  }
}

export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
