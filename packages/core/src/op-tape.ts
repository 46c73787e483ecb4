import type * as tf from '@tensorflow/tfjs-core';

/**
 * An op on a direct training step's tape (accel/train-step.ts): tf's own ops as the engine records
 * them, and cellstack's (a whole-sequence kernel, the dense head, its cross-entropy) recorded by
 * themselves in the same form: inputs by name, outputs, and the gradient function tf would call.
 */
export interface TapeOp {
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  /** Gradient thunks by input name, given every output's gradient (zeros where none reached it). */
  gradient?(dys: tf.Tensor[]): Record<string, () => tf.Tensor>;
  /** Tensors tf's engine kept for the gradient (its own ops), disposed when the step ends. */
  saved?: tf.Tensor[];
  /** Frees what the op holds for its gradient when the step ends without calling it. */
  discard?(): void;
}

/** An op's inputs by position, as tf's engine records them ({0: x, 1: W, …}). */
export const byIndex = (inputs: tf.Tensor[]): Record<string, tf.Tensor> => Object.fromEntries(inputs.map((t, i) => [i, t]));

let open: TapeOp[] | undefined;

/** The tape of the direct training step whose forward pass runs now, if any: cellstack's ops record on it. */
export const openTape = (): TapeOp[] | undefined => open;

/** Run `f` with `tape` open. */
export function recordOps<T>(tape: TapeOp[], f: () => T): T {
  const previous = open;
  open = tape;
  try {
    return f();
  } finally {
    open = previous;
  }
}
