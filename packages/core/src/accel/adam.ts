import * as tf from '@tensorflow/tfjs-core';
import { heapAddress, loadHeapModule, type WasmBackend } from './heap.js';

interface Slot {
  originalName: string;
  variable: tf.Variable;
}
// tf.AdamOptimizer's private state (tfjs-core 4.x), kept in use so that getWeights,
// setWeights, dispose and checkpoints stay tf's own.
interface AdamState {
  accBeta1?: tf.Variable;
  accBeta2?: tf.Variable;
  accumulatedFirstMoment?: (Slot | undefined)[];
  accumulatedSecondMoment?: (Slot | undefined)[];
}

type HeapAdam = (n: number, grad: number, scale: number, m: number, v: number, x: number, m1: number, v1: number, x1: number,
  b1: number, b2: number, c1: number, c2: number, d1: number, d2: number, eps: number, step: number) => void;
type SumSquares = (n: number, grad: number) => number;

let heap: { backend: WasmBackend; adam: HeapAdam; sumSquares: SumSquares } | undefined;
let installed = false;

/** Turn the heap update on (false when the wasm backend is not loaded) or off. */
export function installHeapAdam(on: boolean): boolean {
  if (on && !heap) {
    const mod = loadHeapModule('heap-adam.wasm');
    if (mod) heap = { backend: mod.backend, adam: mod.exports.heap_adam as HeapAdam, sumSquares: mod.exports.heap_sum_squares as SumSquares };
  }
  installed = on && heap !== undefined;
  return installed;
}

/** The heap module while it is installed and wasm is the active backend. */
const heapAdam = () => (installed && tf.getBackend() === 'wasm' ? heap : undefined);

const f = Math.fround;
const ACC = ['accBeta1', 'accBeta2'];
type Named = { name: string; tensor: tf.Tensor };

/** Whether these gradients can take the heap path: wasm backend, float32 throughout. */
export function adamOnHeap(grads: { tensor: tf.Tensor }[]): boolean {
  return heapAdam() != null && grads.every((g) => g.tensor.dtype === 'float32');
}

/** The global L2 norm of gradients on the wasm heap (accumulated in double), as float32. */
export function heapGradNorm(grads: tf.Tensor[]): number {
  const h = heapAdam()!;
  let squares = 0;
  for (const g of grads) squares += h.sumSquares(g.size, heapAddress(h.backend, g));
  return f(Math.sqrt(squares));
}

/**
 * tf.AdamOptimizer whose update, on the wasm backend, is one call per variable of
 * kernel/heap-adam.wasm instead of ~13 tensor ops (each a kernel dispatch: 2–6 ms of a
 * W1 training step). The kernel rounds every operation to float32 in tf's order, so the
 * result is bit-identical to tf's Adam; slots, their names and checkpoints are tf's.
 * Elsewhere (cpu, GPU backends, or the accel patches off) it is tf's Adam.
 */
export class WasmAdam extends tf.AdamOptimizer {
  override applyGradients(variableGradients: Parameters<tf.AdamOptimizer['applyGradients']>[0]): void {
    const list = Array.isArray(variableGradients)
      ? variableGradients
      : Object.entries(variableGradients).map(([name, tensor]) => ({ name, tensor }));
    if (!this.fits(list) || !adamOnHeap(list.filter((g) => g.tensor != null))) return super.applyGradients(variableGradients);
    this.applyScaled(list, 1);
  }

  /**
   * One step with every gradient multiplied by `scale` first, as clipping's tf.mul would
   * (scale 1: no multiply). Call only when adamOnHeap(grads) and fits(grads) hold.
   */
  applyScaled(grads: { name: string; tensor?: tf.Tensor | null }[], scale: number): void {
    const h = heapAdam()!;
    const state = this as unknown as AdamState;
    const first = (state.accumulatedFirstMoment ??= []);
    const second = (state.accumulatedSecondMoment ??= []);
    const [b1, b2, c1, c2] = [f(this.beta1), f(this.beta2), f(1 - this.beta1), f(1 - this.beta2)];
    const [eps, step, s] = [f(this.epsilon), f(-this.learningRate), f(scale)];
    tf.tidy(() => {
      const [acc1, acc2] = [state.accBeta1!.dataSync()[0], state.accBeta2!.dataSync()[0]];
      const [d1, d2] = [f(1 - acc1), f(1 - acc2)];
      grads.forEach(({ name, tensor: g }, i) => {
        // Slots by position in the gradient list, as tf's Adam keeps them.
        const value = tf.engine().registeredVariables[name];
        first[i] ??= { originalName: `${name}/m`, variable: tf.tidy(() => tf.variable(tf.zerosLike(value), false)) };
        second[i] ??= { originalName: `${name}/v`, variable: tf.tidy(() => tf.variable(tf.zerosLike(value), false)) };
        if (!g) return;
        const [m, v] = [first[i]!.variable, second[i]!.variable];
        const at = (t: tf.TensorInfo) => heapAddress(h.backend, t);
        // In place where only the variable holds its data (heap_adam reads an element before writing it):
        // a new tensor per variable and slot, and the old ones' disposal, were ~0.2 ms of a W1 step.
        const outs = [m, v, value].map((t) => (t.dataId !== g.dataId && h.backend.refCount(t.dataId) === 1 ? t : h.backend.makeOutput(t.shape, 'float32')));
        h.adam(value.size, at(g), s, at(m), at(v), at(value), at(outs[0]), at(outs[1]), at(outs[2]), b1, b2, c1, c2, d1, d2, eps, step);
        [m, v, value].forEach((t, k) => outs[k] !== t && t.assign(tf.engine().makeTensorFromTensorInfo(outs[k])));
      });
      state.accBeta1!.assign(tf.scalar(f(acc1 * b1)));
      state.accBeta2!.assign(tf.scalar(f(acc2 * b2)));
    });
    this.incrementIterations();
  }

  /**
   * tf's slots plus the accumulated powers β1^t, β2^t as kept (a float32 product, step by
   * step): tf's own setWeights rebuilds them as pow(β, t + 1), which differs in the last
   * bits, so a resumed run would drift from the uninterrupted one.
   */
  override async getWeights(): Promise<Named[]> {
    const state = this as unknown as AdamState;
    return [...(await super.getWeights()), { name: 'accBeta1', tensor: state.accBeta1! }, { name: 'accBeta2', tensor: state.accBeta2! }];
  }

  override async setWeights(weightValues: Named[]): Promise<void> {
    const powers = new Map(weightValues.filter((w) => ACC.includes(w.name)).map((w) => [w.name, w.tensor]));
    await super.setWeights(weightValues.filter((w) => !ACC.includes(w.name)));
    const state = this as unknown as AdamState;
    tf.tidy(() => powers.forEach((tensor, name) => state[name as 'accBeta1' | 'accBeta2']!.assign(tf.reshape(tensor, []))));
  }

  /**
   * Whether the heap kernel may run: tf's Adam state is where this class expects it, and
   * every variable, gradient and existing slot has the same size (a slot restored out of
   * order must reach tf's ops and their shape error, not overrun a buffer).
   */
  fits(grads: { name: string; tensor?: tf.Tensor | null }[]): boolean {
    const state = this as unknown as AdamState;
    if (!(state.accBeta1 instanceof tf.Variable && state.accBeta2 instanceof tf.Variable)) return false;
    return grads.every(({ name, tensor }, i) => {
      const value = tf.engine().registeredVariables[name];
      if (!value) return false;
      const slots = [state.accumulatedFirstMoment?.[i], state.accumulatedSecondMoment?.[i]];
      const sizes = [tensor?.size ?? value.size, ...slots.map((s) => s?.variable.size ?? value.size)];
      return value.dtype === 'float32' && sizes.every((n) => n === value.size);
    });
  }
}
