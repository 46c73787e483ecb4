import * as tf from '@tensorflow/tfjs-core';

/**
 * Thrown at the next check once the watched interrupt flag is raised: the computation in
 * progress (e.g. one training step) is abandoned; weights and optimiser state are those of
 * before it, since the checks sit in forward and backward passes, never in an update.
 */
export class Interrupted extends Error {
  constructor() {
    super('interrupted: the computation in progress was abandoned');
    this.name = 'Interrupted';
  }
}

let flag: Int32Array | undefined;

/**
 * Watch `f[0]` (undefined: watch nothing). A signal handler on another thread sets it through
 * a SharedArrayBuffer with Atomics.store while this thread is busy in a long step; nonzero
 * makes the next check throw Interrupted.
 */
export function setInterruptFlag(f: Int32Array | undefined): void {
  flag = f;
}

/**
 * Throw Interrupted if the watched flag is raised. Called before every whole-sequence kernel
 * call (forward and backward), before every product a kernel sends to the host, and at every
 * time step of the step loop (forward; backward through interruptPoint).
 */
export function checkInterrupt(): void {
  if (flag !== undefined && Atomics.load(flag, 0) !== 0) throw new Interrupted();
}

const gradCheck = tf.customGrad((x) => ({
  value: tf.clone(x as tf.Tensor),
  gradFunc: (dy: tf.Tensor) => {
    checkInterrupt();
    return tf.clone(dy);
  },
}));

/**
 * `x` itself when no flag is watched; else an identity whose gradient checks the flag first,
 * so a backward pass through a time loop (thousands of small ops) can stop at each step.
 */
export function interruptPoint<X extends tf.Tensor>(x: X): X {
  return flag === undefined ? x : (gradCheck(x) as X);
}

/**
 * Run `f` (e.g. one training step) watching `f[0]`. When Interrupted escapes a gradient
 * computation, tfjs leaves its tape behind, holding copies of the tensors the backward pass
 * would have read: they are freed here before the error is rethrown.
 */
export async function interruptible<T>(watch: Int32Array, f: () => T | Promise<T>): Promise<T> {
  const before = flag;
  flag = watch;
  try {
    return await f();
  } catch (e) {
    if (e instanceof Interrupted) releaseTape();
    throw e;
  } finally {
    flag = before;
  }
}

interface EngineState {
  gradientDepth: number;
  activeTape: Array<{ saved?: tf.Tensor[] }> | null;
}

function releaseTape(): void {
  const state = (tf.engine() as unknown as { state: EngineState }).state;
  if (state.gradientDepth > 0 || !state.activeTape) return;
  for (const node of state.activeTape) for (const t of node.saved ?? []) t.dispose();
  state.activeTape = null;
}
