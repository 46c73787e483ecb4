import * as tf from '@tensorflow/tfjs-core';
import { Builder, TraceAbort } from './builder.js';
import type { BinaryFn, UnaryFn } from './ir.js';

/**
 * A tfjs backend whose kernels record IR ops instead of computing. While it is the active
 * backend, a cell's own `step` (plain `tf.*` calls) runs on symbolic tensors: each tensor's
 * data id maps to a buffer of the program being built. Kernels without a recorder are not
 * registered, so tfjs itself fails on them; `trace` turns that and any data read into a
 * one-line reason.
 */
export const TRACE_BACKEND = 'cellstack-trace';

interface Ctx {
  builder: Builder;
  ids: WeakMap<object, number>;
}
let current: Ctx | undefined;

const ctx = (): Ctx => {
  if (!current) throw new TraceAbort('the tracing backend ran outside a trace');
  return current;
};

/** The buffer behind a tensor of this trace. */
export function bufferOf(info: { dataId: object }): number {
  const id = ctx().ids.get(info.dataId);
  if (id === undefined) throw new TraceAbort('the step reads a tensor created outside it (not an input, state, parameter or begin() constant)');
  return id;
}

/** A symbolic tensor for buffer `id`. */
export function symbolic(id: number, dtype: tf.DataType = 'float32'): tf.Tensor {
  const dataId = {};
  ctx().ids.set(dataId, id);
  return tf.engine().makeTensorFromTensorInfo({
    dataId,
    shape: ctx().builder.shape(id),
    dtype,
  });
}

const info = (id: number, dtype: tf.DataType = 'float32'): tf.TensorInfo => {
  const dataId = {};
  ctx().ids.set(dataId, id);
  return { dataId, shape: ctx().builder.shape(id), dtype };
};

class TraceBackend extends tf.KernelBackend {
  override write(values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType): object {
    if (dtype === 'string') throw new TraceAbort('string tensors cannot be traced');
    const dataId = {};
    ctx().ids.set(dataId, ctx().builder.literal(shape, values as ArrayLike<number>));
    return dataId;
  }
  override move(): void {
    throw new TraceAbort('the step reads a tensor created outside it (not an input, state, parameter or begin() constant)');
  }
  override readSync(): never {
    throw new TraceAbort('the step reads tensor values (dataSync/arraySync): a data-dependent step cannot be traced');
  }
  override read(): Promise<never> {
    throw new TraceAbort('the step reads tensor values (data/array): a data-dependent step cannot be traced');
  }
  override disposeData(): boolean {
    return true;
  }
  override refCount(): number {
    return 1;
  }
  override incRef(): void {}
  override numDataIds(): number {
    return 0;
  }
  override memory(): { unreliable: boolean } {
    return { unreliable: true };
  }
  override floatPrecision(): 32 {
    return 32;
  }
  override epsilon(): number {
    return 1e-7;
  }
  override dispose(): void {}
}

type Args = { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap };
type Kernel = (a: Args) => tf.TensorInfo | tf.TensorInfo[];

const b = () => ctx().builder;
const input = (a: Args, name: string) => bufferOf(a.inputs[name] as tf.TensorInfo);
const attr = <T>(a: Args, name: string) => (a.attrs as Record<string, unknown>)[name] as T;
const rank = (a: Args, name = 'x') => (a.inputs[name] as tf.TensorInfo).shape.length;
const axes = (axis: number | number[] | null | undefined, r: number): number[] =>
  axis === null || axis === undefined ? [...Array(r).keys()] : (Array.isArray(axis) ? axis : [axis]).map((v) => (v < 0 ? v + r : v));

const unary =
  (fn: UnaryFn, alpha?: (a: Args) => number): Kernel =>
  (a) =>
    info(b().unary(fn, input(a, 'x'), alpha?.(a)));
const binary =
  (fn: BinaryFn, dtype: tf.DataType = 'float32'): Kernel =>
  (a) =>
    info(b().binary(fn, input(a, 'a'), input(a, 'b')), dtype);

function reduce(fn: 'sum' | 'max' | 'mean'): Kernel {
  return (a) => {
    const x = input(a, 'x');
    const shape = b().shape(x);
    // Max names its axes reductionIndices; Sum, Mean and Min name them axis.
    const ax = axes(attr(a, 'axis') ?? attr(a, 'reductionIndices'), shape.length);
    let out = b().reduce(fn === 'max' ? 'max' : 'sum', x, ax);
    if (fn === 'mean') out = b().scalar('mul', out, 1 / ax.reduce((n, i) => n * shape[i], 1));
    const keep = attr<boolean>(a, 'keepDims');
    return info(
      keep
        ? out
        : b().reshape(
            out,
            shape.filter((_, i) => !ax.includes(i)),
          ),
    );
  };
}

function matmul(a: Args): number {
  const out = b().matmul(input(a, 'a'), input(a, 'b'), attr(a, 'transposeA'), attr(a, 'transposeB'));
  return out;
}

const kernels: Record<string, Kernel> = {
  BatchMatMul: (a) => info(matmul(a)),
  _FusedMatMul: (a) => {
    if (a.inputs.preluActivationWeights) throw new TraceAbort('_FusedMatMul with PReLU cannot be traced');
    let out = matmul(a);
    if (a.inputs.bias) out = b().binary('add', out, input(a, 'bias'));
    const act = attr<string | undefined>(a, 'activation') ?? 'linear';
    if (act === 'relu') out = b().unary('relu', out);
    else if (act === 'sigmoid') out = b().unary('sigmoid', out);
    else if (act !== 'linear') throw new TraceAbort(`_FusedMatMul activation '${act}' cannot be traced`);
    return info(out);
  },
  Add: binary('add'),
  Sub: binary('sub'),
  Multiply: binary('mul'),
  RealDiv: binary('div'),
  Maximum: binary('max'),
  Minimum: binary('min'),
  Pow: binary('pow'),
  SquaredDifference: (a) => info(b().unary('square', b().binary('sub', input(a, 'a'), input(a, 'b')))),
  Greater: binary('greater', 'bool'),
  GreaterEqual: binary('greaterEqual', 'bool'),
  Less: binary('less', 'bool'),
  LessEqual: binary('lessEqual', 'bool'),
  Equal: binary('equal', 'bool'),
  NotEqual: binary('notEqual', 'bool'),
  AddN: (a) =>
    info(
      Object.values(a.inputs)
        .map((t) => bufferOf(t as tf.TensorInfo))
        .reduce((x, y) => b().binary('add', x, y)),
    ),
  Neg: unary('neg'),
  Exp: unary('exp'),
  Log: unary('log'),
  Sqrt: unary('sqrt'),
  Rsqrt: unary('rsqrt'),
  Sigmoid: unary('sigmoid'),
  Tanh: unary('tanh'),
  Relu: unary('relu'),
  Abs: unary('abs'),
  Square: unary('square'),
  Reciprocal: unary('reciprocal'),
  Sign: unary('sign'),
  Step: (a) => {
    // tf.step: 1 where x > 0, else alpha.
    const alpha = attr<number>(a, 'alpha');
    const s = b().unary('step', input(a, 'x'));
    return info(alpha === 0 ? s : b().binary('add', b().scalar('mul', s, 1 - alpha), b().fill([], alpha)));
  },
  Relu6: (a) => info(b().binary('min', b().unary('relu', input(a, 'x')), b().fill([], 6))),
  Softplus: (a) => {
    // log(1 + eˣ) = relu(x) + log(1 + e^−|x|), stable for large |x|.
    const x = input(a, 'x');
    const tail = b().unary('log', b().scalar('add', b().unary('exp', b().unary('neg', b().unary('abs', x))), 1));
    return info(b().binary('add', b().unary('relu', x), tail));
  },
  LeakyRelu: (a) => {
    // max(x, αx) for α ≤ 1: x·(α + (1 − α)·step(x)).
    const x = input(a, 'x');
    const alpha = attr<number>(a, 'alpha');
    const slope = b().binary('add', b().scalar('mul', b().unary('step', x), 1 - alpha), b().fill([], alpha));
    return info(b().binary('mul', x, slope));
  },
  Select: (a) => info(b().select(input(a, 'condition'), input(a, 't'), input(a, 'e'))),
  Sum: reduce('sum'),
  Max: reduce('max'),
  Mean: reduce('mean'),
  Min: (a) => {
    const neg = { ...a, inputs: { x: info(b().unary('neg', input(a, 'x'))) } };
    return info(b().unary('neg', bufferOf(reduce('max')(neg) as tf.TensorInfo)));
  },
  Cumsum: (a) => {
    const axis = attr<number>(a, 'axis');
    return info(b().cumsum(input(a, 'x'), axis < 0 ? axis + rank(a) : axis, attr(a, 'exclusive'), attr(a, 'reverse')));
  },
  Softmax: (a) => {
    const dim = attr<number>(a, 'dim');
    if (dim !== -1 && dim !== rank(a, 'logits') - 1) throw new TraceAbort('softmax is traced over the last axis only');
    return info(b().softmax(input(a, 'logits')));
  },
  Concat: (a) => {
    const xs = Object.values(a.inputs).map((t) => bufferOf(t as tf.TensorInfo));
    const r = b().shape(xs[0]).length;
    const axis = axes(attr(a, 'axis'), r)[0];
    return info(
      b().concat(
        xs.filter((x) => b().shape(x)[axis] > 0),
        axis,
      ),
    );
  },
  Pack: (a) => {
    const xs = Object.values(a.inputs).map((t) => bufferOf(t as tf.TensorInfo));
    const s = b().shape(xs[0]);
    const axis = axes(attr(a, 'axis'), s.length + 1)[0];
    const expanded = [...s.slice(0, axis), 1, ...s.slice(axis)];
    return info(
      b().concat(
        xs.map((x) => b().reshape(x, expanded)),
        axis,
      ),
    );
  },
  Unpack: (a) => {
    const x = input(a, 'value');
    const s = b().shape(x);
    const axis = axes(attr(a, 'axis'), s.length)[0];
    const size = s.map((d, i) => (i === axis ? 1 : d));
    return [...Array(s[axis]).keys()].map((k) =>
      info(
        b().reshape(
          b().slice(
            x,
            s.map((_, i) => (i === axis ? k : 0)),
            size,
          ),
          s.filter((_, i) => i !== axis),
        ),
      ),
    );
  },
  BroadcastTo: (a) => {
    const x = input(a, 'x');
    const shape = attr<number[]>(a, 'shape');
    const s = b().shape(x);
    return info(b().broadcast(b().reshape(x, [...Array(shape.length - s.length).fill(1), ...s]), shape));
  },
  Slice: (a) => {
    const x = input(a, 'x');
    const s = b().shape(x);
    const begin = attr<number[]>(a, 'begin');
    const size = attr<number[]>(a, 'size').map((v, i) => (v === -1 ? s[i] - begin[i] : v));
    return info(b().slice(x, begin, size));
  },
  SplitV: (a) => {
    const x = input(a, 'x');
    const s = b().shape(x);
    const axis = axes(attr(a, 'axis'), s.length)[0];
    const spec = attr<number | number[]>(a, 'numOrSizeSplits');
    const sizes = Array.isArray(spec) ? [...spec] : Array<number>(spec).fill(s[axis] / spec);
    const free = sizes.indexOf(-1);
    if (free >= 0) sizes[free] = s[axis] - sizes.reduce((n, v) => n + (v === -1 ? 0 : v), 0);
    let at = 0;
    return sizes.map((n) => {
      const begin = s.map(() => 0);
      begin[axis] = at;
      at += n;
      const size = [...s];
      size[axis] = n;
      return info(b().slice(x, begin, size));
    });
  },
  Reshape: (a) => {
    const x = input(a, 'x');
    const n = b()
      .shape(x)
      .reduce((p, q) => p * q, 1);
    const spec = attr<number[]>(a, 'shape');
    const known = spec.reduce((p, q) => (q === -1 ? p : p * q), 1);
    return info(
      b().reshape(
        x,
        spec.map((v) => (v === -1 ? n / known : v)),
      ),
      (a.inputs.x as tf.TensorInfo).dtype,
    );
  },
  ExpandDims: (a) => {
    const x = input(a, 'input');
    const s = b().shape(x);
    const d = attr<number>(a, 'dim');
    const at = d < 0 ? d + s.length + 1 : d;
    return info(b().reshape(x, [...s.slice(0, at), 1, ...s.slice(at)]));
  },
  Squeeze: (a) => {
    const x = input(a, 'x');
    const s = b().shape(x);
    const ax = attr<number[] | undefined>(a, 'axis');
    const drop = ax && ax.length ? axes(ax, s.length) : s.flatMap((d, i) => (d === 1 ? [i] : []));
    return info(
      b().reshape(
        x,
        s.filter((_, i) => !drop.includes(i)),
      ),
    );
  },
  Transpose: (a) => info(b().transpose(input(a, 'x'), attr(a, 'perm'))),
  Tile: (a) => {
    // tile = broadcast of an interleaved view: [a, b] by [r, s] is [1, a, 1, b] → [r, a, s, b].
    const x = input(a, 'x');
    const s = b().shape(x);
    const reps = attr<number[]>(a, 'reps');
    const view = b().reshape(
      x,
      s.flatMap((d) => [1, d]),
    );
    const big = b().broadcast(
      view,
      s.flatMap((d, i) => [reps[i], d]),
    );
    return info(
      b().reshape(
        big,
        s.map((d, i) => d * reps[i]),
      ),
    );
  },
  Fill: (a) => info(b().fill(attr<number[]>(a, 'shape'), attr<number>(a, 'value')), attr(a, 'dtype')),
  ZerosLike: (a) => info(b().fill(b().shape(input(a, 'x')), 0)),
  OnesLike: (a) => info(b().fill(b().shape(input(a, 'x')), 1)),
  Cast: (a) => {
    const dtype = attr<tf.DataType>(a, 'dtype');
    if (dtype !== 'float32' && dtype !== 'bool') throw new TraceAbort(`cast to ${dtype} cannot be traced (float32 only)`);
    const x = input(a, 'x');
    return info(dtype === 'bool' ? b().binary('notEqual', x, b().fill([], 0)) : x, dtype);
  },
  Identity: (a) => info(input(a, 'x'), (a.inputs.x as tf.TensorInfo).dtype),
  ClipByValue: (a) => {
    const lo = b().binary('max', input(a, 'x'), b().fill([], attr<number>(a, 'clipValueMin')));
    return info(b().binary('min', lo, b().fill([], attr<number>(a, 'clipValueMax'))));
  },
};

let registered = false;

/** Register the backend and its kernels once (without making it the active backend). */
function register(): void {
  if (registered) return;
  registered = true;
  // Priority −1: never chosen by tfjs on its own.
  tf.registerBackend(TRACE_BACKEND, () => new TraceBackend(), -1);
  for (const [kernelName, fn] of Object.entries(kernels)) {
    tf.registerKernel({
      kernelName,
      backendName: TRACE_BACKEND,
      kernelFunc: fn as unknown as tf.KernelFunc,
    });
  }
}

/** Kernel names the tracer records (the traceable subset, for docs and messages). */
export const TRACEABLE_KERNELS: readonly string[] = Object.keys(kernels);

interface EngineState {
  gradientDepth: number;
}

/**
 * Run `fn` with the tracing backend active and `builder` receiving its ops. The engine's
 * gradient tape is paused (a trace can start inside model.fit's gradient scope; its
 * symbolic tensors must not join the tape) and the previous backend restored after.
 */
export function withTracing<T extends tf.TensorContainer>(builder: Builder, fn: () => T): T {
  register();
  const engine = tf.engine() as unknown as { state: EngineState };
  const previous = tf.getBackend();
  const depth = engine.state.gradientDepth;
  const saved = current;
  current = { builder, ids: new WeakMap() };
  engine.state.gradientDepth = 0;
  // Both backends are initialised, so setBackend switches synchronously.
  void tf.setBackend(TRACE_BACKEND);
  try {
    return tf.tidy(fn);
  } catch (e) {
    if (e instanceof TraceAbort) throw e;
    const msg = (e as Error).message ?? String(e);
    const m = /Kernel '(\w+)' not registered for backend/.exec(msg);
    throw new TraceAbort(m ? `tf op '${m[1]}' is outside the traceable subset` : msg.split('\n')[0]);
  } finally {
    void tf.setBackend(previous);
    engine.state.gradientDepth = depth;
    current = saved;
  }
}
