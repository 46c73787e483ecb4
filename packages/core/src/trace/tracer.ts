import * as tf from '@tensorflow/tfjs-core';
import type { CellInstance, Params, State } from '../cell.js';
import { bufferOf, symbolic, withTracing } from './backend.js';
import { Builder, TraceAbort } from './builder.js';
import type { StepProgram } from './ir.js';

/** Static shapes of everything a step reads (the batch is part of every input and state shape). */
export interface StepShapes {
  batch: number;
  /** Projected input widths by name; with `project`, the raw input's width as `x`. */
  inputs: Record<string, number>;
  /**
   * Trace the cell's `project` into the step too: the program reads one step's raw input x [B, F]
   * and projects it itself (project is row-wise by contract, so per step equals all steps at once).
   */
  project?: boolean;
  params: Record<string, number[]>;
  constants: Record<string, number[]>;
}

/** Input-name prefix of a per-step constant (CellInstance.perStep) as the traced program reads it. */
const PER_STEP = '@';

/**
 * Move the cell's per-step `begin` constants ([T·B, k] each) out of `constants` into step inputs
 * named `@name`, which the traced kernels slice per step like projected inputs.
 */
export function perStepInputs(cell: CellInstance, constants: Record<string, tf.Tensor>): { inputs: Record<string, tf.Tensor2D>; constants: Record<string, tf.Tensor> } {
  const inputs: Record<string, tf.Tensor2D> = {};
  const rest: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries(constants)) {
    if (cell.perStep?.includes(k)) inputs[PER_STEP + k] = v as tf.Tensor2D;
    else rest[k] = v;
  }
  return { inputs, constants: rest };
}

function traceAt(cell: CellInstance, shapes: StepShapes, training: boolean, t: number): StepProgram {
  const b = new Builder();
  const B = shapes.batch;
  const ids = <T>(spec: Record<string, T>, shape: (v: T) => number[], role: 'input' | 'state' | 'param' | 'constant') =>
    Object.fromEntries(Object.entries(spec).map(([k, v]) => [k, b.buffer(shape(v), role, `${role}.${k}`)]));
  const inputs = ids(shapes.inputs, (k) => [B, k], 'input');
  const state = ids(cell.state, (s) => [B, s], 'state');
  const params = ids(shapes.params, (s) => s, 'param');
  const constants = ids(shapes.constants, (s) => s, 'constant');
  const result = withTracing(b, () => {
    const sym = (m: Record<string, number>) => Object.fromEntries(Object.entries(m).map(([k, id]) => [k, symbolic(id)]));
    const own = Object.fromEntries(Object.entries(inputs).filter(([k]) => !k.startsWith(PER_STEP)));
    const perStep = Object.fromEntries(Object.entries(inputs).flatMap(([k, id]) => (k.startsWith(PER_STEP) ? [[k.slice(PER_STEP.length), id]] : [])));
    const stepInputs = shapes.project ? cell.project!(symbolic(inputs.x) as tf.Tensor2D, sym(params) as Params) : (sym(own) as Record<string, tf.Tensor2D>);
    const r = cell.step(stepInputs, sym(state) as State, sym(params) as Params, {
      training,
      batch: B,
      t,
      constants: { ...sym(constants), ...sym(perStep) },
    });
    const nextState: Record<string, number> = {};
    for (const name of Object.keys(cell.state)) {
      if (!r.state[name]) throw new TraceAbort(`step returned no state '${name}'`);
      nextState[name] = bufferOf(r.state[name]);
    }
    return { output: bufferOf(r.output), nextState };
  });
  return {
    buffers: b.buffers,
    ops: b.ops,
    inputs,
    state,
    params,
    constants,
    ...result,
  };
}

/**
 * Record the cell's step as a program by running it on symbolic tensors. The step is traced
 * at t = 0 and t = 1: a step whose ops or literals depend on t (a fresh random mask per step
 * drawn in JS, a schedule) gives two different programs and is not traceable.
 * Throws TraceAbort with a one-line reason.
 */
export function traceStep(cell: CellInstance, shapes: StepShapes, training: boolean, T: number): StepProgram {
  const p0 = traceAt(cell, shapes, training, 0);
  if (T > 1) {
    const p1 = traceAt(cell, shapes, training, 1);
    if (JSON.stringify(p0.ops) !== JSON.stringify(p1.ops)) throw new TraceAbort('the step depends on the step index t (e.g. a mask drawn per step)');
  }
  return p0;
}
