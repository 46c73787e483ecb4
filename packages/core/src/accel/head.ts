import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { recordingGradients } from '../kernel.js';
import { byIndex, openTape } from '../op-tape.js';
import { heapAddress, type WasmBackend } from './heap.js';
import { wakeThreads } from '../native.js';
import { heapMatMulExport, productOnHeap } from './matmul.js';

/*
 * The dense head over every step, and its categorical cross-entropy, as one op each on
 * tfjs-backend-wasm's heap. tfjs-layers' Dense with a softmax is ~5 tensor ops forward
 * and ~12 backward, and its cross-entropy (normalise, clip, log, multiply, sum) ~7 and
 * ~10: a third of a W1 SimpleRNN training step, for 12M multiply-adds. Here the dense
 * layer is one product (+ bias, + softmax) with a custom gradient, and the loss of a
 * model compiled with loss 'categoricalCrossentropy' reads the head's probabilities and
 * sends its gradient straight to the head's input and weights (dz = p·Σy − y), skipping
 * the softmax's and the loss's tensor ops. Values are tf's within float32 rounding,
 * including the clipping (a clipped probability passes no gradient, as tf.clipByValue).
 */

/** kernel/heap-matmul.wasm's head exports (addresses on tfjs's heap). */
interface HeapHead {
  heap_softmax(M: number, N: number, z: number): void;
  heap_softmax_grad(M: number, N: number, p: number, dp: number, dz: number): void;
  heap_colsum(M: number, N: number, z: number, out: number): void;
  heap_cce(M: number, N: number, p: number, y: number, yInt: number, lo: number, hi: number, loss: number): void;
  heap_cce_grad(M: number, N: number, p: number, y: number, yInt: number, lo: number, hi: number, w: number, dz: number): void;
}
const EXPORTS = ['heap_softmax', 'heap_softmax_grad', 'heap_colsum', 'heap_cce', 'heap_cce_grad'] as const;
type Save = (tensors: tf.Tensor[]) => void;
type CustomOp = (...args: unknown[]) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[] };
type Loss = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;
interface DenseLayer {
  activation?: { getClassName(): string };
  kernel?: { read(): tf.Tensor } | null;
  bias?: { read(): tf.Tensor } | null;
  invokeCallHook(inputs: unknown, kwargs: unknown): void;
}
type Call = (this: DenseLayer, inputs: tf.Tensor | tf.Tensor[], kwargs: object) => tf.Tensor | tf.Tensor[];
type Compile = (this: tfl.LayersModel, args: tfl.ModelCompileArgs) => void;
interface DenseClass {
  prototype: { call: Call };
}

let patched: { dense: DenseClass; call: Call; compile: Compile; head: HeapHead; backend: WasmBackend } | undefined;

/** Where a softmax head's output came from (tensors alive as long as a training step needs them). */
const heads = new WeakMap<tf.Tensor, { x: tf.Tensor; W: tf.Tensor; b?: tf.Tensor }>();

/**
 * Replace tfjs-layers' Dense.call (softmax or linear activation, 2-D or 3-D float32 input)
 * and make LayersModel.compile give 'categoricalCrossentropy' the fused loss; off: tf's
 * own back. False when the wasm backend or the matmul patch (its heap module) is missing.
 */
export function installDenseHead(on: boolean): boolean {
  if (on && !patched) {
    const dense = tf.serialization.SerializationMap.getMap().classNameMap.Dense?.[0] as unknown as DenseClass | undefined;
    const head = Object.fromEntries(EXPORTS.map((name) => [name, heapMatMulExport(name)])) as unknown as HeapHead;
    const backend = tf.findBackend('wasm') as unknown as WasmBackend | undefined;
    if (!dense || !backend || EXPORTS.some((name) => typeof head[name] !== 'function')) return false;
    const proto = tfl.LayersModel.prototype as unknown as { compile: Compile };
    const p = (patched = { dense, call: dense.prototype.call, compile: proto.compile, head, backend });
    dense.prototype.call = function (inputs, kwargs) {
      return denseOnHeap(this, inputs, kwargs) ?? p.call.call(this, inputs, kwargs);
    };
    proto.compile = function (args) {
      p.compile.call(this, args);
      const self = this as unknown as { lossFunctions: Loss[] };
      const names = Array.isArray(args.loss) ? args.loss : self.lossFunctions.map(() => args.loss);
      self.lossFunctions = self.lossFunctions.map((fn, i) => (names[i] === 'categoricalCrossentropy' ? fusedCrossEntropy(fn) : fn));
    };
  } else if (!on && patched) {
    patched.dense.prototype.call = patched.call;
    (tfl.LayersModel.prototype as unknown as { compile: Compile }).compile = patched.compile;
    patched = undefined;
  }
  return patched !== undefined;
}

const active = () => patched !== undefined && tf.getBackend() === 'wasm';
const at = (t: tf.TensorInfo) => heapAddress(patched!.backend, t);
const view = (t: tf.TensorInfo) => patched!.backend.typedArrayFromHeap(t) as Float32Array;
const output = (shape: number[]) => patched!.backend.makeOutput(shape, 'float32');
const tensor = (info: tf.TensorInfo) => tf.engine().makeTensorFromTensorInfo(info);

/** The fused dense layer, or undefined where tf's Dense.call must run (other activations, dtypes, ranks). */
function denseOnHeap(layer: DenseLayer, inputs: tf.Tensor | tf.Tensor[], kwargs: object): tf.Tensor | undefined {
  if (!active()) return undefined;
  const x = Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0] : undefined) : inputs;
  const act = layer.activation?.getClassName();
  const W = layer.kernel?.read();
  const b = layer.bias?.read();
  const ok = x && W && (act === 'softmax' || act === 'linear') && x.dtype === 'float32' && W.dtype === 'float32' && (!b || b.dtype === 'float32');
  if (!ok || x.rank < 2 || x.rank > 3 || W.rank !== 2 || x.shape[x.rank - 1] !== W.shape[0] || x.size === 0 || W.size === 0) return undefined;
  layer.invokeCallHook(inputs, kwargs);
  const softmax = act === 'softmax';
  const forward = (xs: tf.Tensor, Ws: tf.Tensor, bs?: tf.Tensor) => {
    wakeThreads(); // the pool slept through the layer below's output copy and the engine's work since
    const [K, N] = Ws.shape;
    const M = xs.size / K;
    const out = output([...xs.shape.slice(0, -1), N]);
    productOnHeap(patched!.backend, { batch: 1, M, N, K, A: at(xs), strideA: 0, sa: K, sk: 1, B: at(Ws), strideB: 0, C: at(out), relu: false }, bs);
    if (softmax) patched!.head.heap_softmax(M, N, at(out));
    return tensor(out);
  };
  let p: tf.Tensor;
  if (!recordingGradients()) p = forward(x, W, b);
  else {
    const op = customOp((...args: unknown[]) => {
      const [xs, Ws] = args as tf.Tensor[];
      const value = forward(xs, Ws, b && (args[2] as tf.Tensor));
      // Saved (kept) for backward: the step's tidy disposes every other tensor of the forward pass first.
      (args[args.length - 1] as Save)(softmax ? [xs, Ws, value] : [xs, Ws]);
      const gradFunc = (dy: tf.Tensor, [xk, Wk, pk]: tf.Tensor[]) => {
        if (!softmax) return headGradients(xk, Wk, b !== undefined, dy);
        const dz = softmaxGradient(pk, dy);
        const grads = headGradients(xk, Wk, b !== undefined, dz);
        patched!.backend.disposeData(dz.dataId);
        return grads;
      };
      return { value, gradFunc };
    });
    p = op(...(b ? [x, W, b] : [x, W]));
  }
  if (softmax) heads.set(p, { x, W, b });
  return p;
}

/** dz = p ⊙ (dp − Σ dp ⊙ p) per row: tf's softmax gradient. */
function softmaxGradient(p: tf.TensorInfo, dp: tf.TensorInfo): tf.TensorInfo {
  const N = p.shape[p.shape.length - 1];
  const dz = output(p.shape);
  patched!.head.heap_softmax_grad(tf.util.sizeFromShape(p.shape) / N, N, at(p), at(dp), at(dz));
  return dz;
}

/** The head's gradients from dz = ∂L/∂(x·W + b): dx = dz·Wᵀ, dW = xᵀ·dz, db = Σ_rows dz. */
function headGradients(x: tf.TensorInfo, W: tf.TensorInfo, bias: boolean, dz: tf.TensorInfo): tf.Tensor[] {
  const { backend } = patched!;
  const [K, N] = W.shape;
  const M = tf.util.sizeFromShape(x.shape) / K;
  const [Wt, dx, dW] = [output([N, K]), output(x.shape), output([K, N])];
  const db = bias ? output([N]) : undefined;
  // Views only after every allocation: one may grow the heap and detach earlier views.
  const [w, wt] = [view(W), view(Wt)];
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) wt[n * K + k] = w[k * N + n];
  productOnHeap(backend, { batch: 1, M, N: K, K: N, A: at(dz), strideA: 0, sa: N, sk: 1, B: at(Wt), strideB: 0, C: at(dx), relu: false });
  productOnHeap(backend, { batch: 1, M: K, N, K: M, A: at(x), strideA: 0, sa: 1, sk: K, B: at(dz), strideB: 0, C: at(dW), relu: false });
  backend.disposeData(Wt.dataId);
  if (!db) return [tensor(dx), tensor(dW)];
  patched!.head.heap_colsum(M, N, at(dz), at(db));
  return [tensor(dx), tensor(dW), tensor(db)];
}

/**
 * tfjs-layers' categorical cross-entropy, −Σ y·log(clip(p / Σp, ε, 1 − ε)) per row, fused
 * when `yPred` is the output of a softmax head above; anything else goes to `original`.
 */
function fusedCrossEntropy(original: Loss): Loss {
  return (yTrue, yPred) => {
    const head = heads.get(yPred);
    const alive = head && !yPred.isDisposed && !head.x.isDisposed && !head.W.isDisposed && !head.b?.isDisposed;
    if (!active() || !alive || (yTrue.dtype !== 'float32' && yTrue.dtype !== 'int32') || !tf.util.arraysEqual(yTrue.shape, yPred.shape)) return original(yTrue, yPred);
    const { x, W, b } = head!;
    const eps = tf.backend().epsilon();
    const [lo, hi] = [Math.fround(eps), Math.fround(1 - eps)];
    const N = yPred.shape[yPred.rank - 1];
    const M = yPred.size / N;
    const yInt = yTrue.dtype === 'int32' ? 1 : 0;
    const forward = () => {
      const rows = output(yPred.shape.slice(0, -1));
      patched!.head.heap_cce(M, N, at(yPred), at(yTrue), yInt, lo, hi, at(rows));
      return tensor(rows);
    };
    if (!recordingGradients()) return forward();
    const op = customOp((...args: unknown[]) => {
      const [xs, Ws] = args as tf.Tensor[];
      const value = forward();
      (args[args.length - 1] as Save)([xs, Ws, yPred, yTrue]);
      const gradFunc = (dy: tf.Tensor, [xk, Wk, pk, yk]: tf.Tensor[]) => {
        wakeThreads(); // for headGradients' products
        // The softmax's and the clip's gradients in one (heap_cce_grad).
        const dz = output(pk.shape);
        patched!.head.heap_cce_grad(M, N, at(pk), at(yk), yInt, lo, hi, at(dy), at(dz));
        const grads = headGradients(xk, Wk, b !== undefined, dz);
        patched!.backend.disposeData(dz.dataId);
        return grads;
      };
      return { value, gradFunc };
    });
    return op(...(b ? [x, W, b] : [x, W]));
  };
}

/**
 * tf.customGrad(f) applied to `inputs`; inside a direct training step (accel/train-step.ts), f's
 * value and gradient function go on the step's own record instead of tf's tape.
 */
function customOp(f: CustomOp) {
  return (...inputs: tf.Tensor[]): tf.Tensor => {
    const tape = openTape();
    if (!tape) return tf.customGrad(f as never)(...inputs) as tf.Tensor;
    let saved: tf.Tensor[] = [];
    const { value, gradFunc } = f(...inputs, (tensors: tf.Tensor[]) => (saved = tensors));
    tape.push({ inputs: byIndex(inputs), outputs: [value], gradient: ([dy]) => Object.fromEntries(gradFunc(dy, saved).map((g, i) => [i, () => g])) });
    return value;
  };
}
