import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { backendCopiesOnWrite, heapOutputs, recycleArrays, takeArray, tensorData, tensorView } from './accel/array-pool.js';
import { CellstackError } from './errors.js';
import { checkInterrupt } from './interrupt.js';
import { hostImports, wakeThreads } from './native.js';
import { byIndex, openTape } from './op-tape.js';
import { configure, settings } from './settings.js';

/** A kept block (WasmKernel.keep): [start, end) of a kernel's memory, freed once its backward pass is done with it. */
interface KeptBlock {
  kernel: WasmKernel;
  start: number;
  end: number;
  live: boolean;
  /** Its views `saved()` handed out that the garbage collector has not yet taken. */
  views: number;
}
/** The kept block and byte address behind each view `saved()` handed out (a grown memory detaches the view itself). */
const keptViews = new WeakMap<Float32Array, { block: KeptBlock; ptr: number }>();

/**
 * A loaded fused-kernel module (a cell's kernel/<cell>.wasm built from C with
 * kernel/cellstack_kernel.h). Memory is a bump allocator over the module's own linear
 * memory: `reset()` at the start of each call, then `put`/`alloc`, call, `read`. Below
 * the bump region lies a stack of kept blocks (`keep`): a forward pass's saved values,
 * which its backward pass reads in place instead of a copy out and a copy back in
 * (W1 LSTM: ~10 MB each way a step). Layers free them in reverse order, so a stack fits.
 */
export class WasmKernel {
  private readonly memory: WasmMemory;
  private readonly fns: Record<string, (...args: number[]) => void>;
  private readonly base: number;
  private top: number;
  /** End of the top live kept block (the bump region's start). */
  private floor: number;
  private readonly blocks: KeptBlock[] = [];
  /** No kept block yet this call: the next keep() starts one. */
  private fresh = true;
  /** The buffer of the operands this call left outside its memory (RunOptions.outside), while it runs. */
  private second: ArrayBuffer | undefined;
  /** Whether the module's host branches for `work` multiply-adds run now (they call the addon; see RunOptions.outside). */
  readonly hostRuns: (work: number) => boolean;
  // A forward pass whose backward never runs (its tape dropped) frees its block once all its views are collected.
  private static readonly finalizer = new FinalizationRegistry<KeptBlock>((block) => {
    if (--block.views === 0) block.kernel.drop(block);
  });

  constructor(bytes: Uint8Array, readonly label: string) {
    const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
    const host = hostImports(() => this.memory, () => this.second);
    const ex = new wasm.Instance(new wasm.Module(bytes), { env: host.env }).exports;
    this.memory = ex.memory as WasmMemory;
    host.follow(ex.cs_use_host);
    this.hostRuns = host.runs;
    this.base = align((ex.__heap_base as { value: number }).value);
    this.top = this.floor = this.base;
    this.fns = Object.fromEntries(Object.entries(ex).filter(([, v]) => typeof v === 'function')) as never;
  }

  reset(): void {
    this.top = this.floor;
    this.fresh = true;
  }

  /**
   * Room for n floats that outlives this call, zero-filled unless `written` (as `alloc`/`scratch`): right
   * after `reset()`, before any other allocation; consecutive calls extend one block. Read it with
   * `saved()`; fusedCall frees it after the backward pass (`free`).
   */
  keep(n: number, written = false): number {
    let block = this.blocks.at(-1);
    if (this.top !== this.floor) throw new CellstackError(`kernel ${this.label}`, 'keep() after another allocation of this call', 'keep() right after reset()');
    if (this.fresh || !block) {
      block = { kernel: this, start: this.floor, end: this.floor, live: true, views: 0 };
      this.blocks.push(block);
      this.fresh = false;
    }
    const ptr = written ? this.scratch(n) : this.alloc(n);
    block.end = this.floor = this.top;
    return ptr;
  }

  /**
   * A forward pass's saved value at ptr, for its backward pass: from `keep()`, a view that `put()` passes
   * back in place however memory has grown since; else a copy (`read`).
   */
  saved(ptr: number, n: number): Float32Array {
    const block = this.blocks.at(-1);
    if (!block || this.fresh || ptr < block.start || ptr >= block.end) return this.read(ptr, n);
    const view = this.view(ptr, n);
    keptViews.set(view, { block, ptr });
    block.views++;
    WasmKernel.finalizer.register(view, block, block);
    return view;
  }

  /** Free the kept block behind a view from `saved()` (with all its other views); other arrays are ignored. */
  free(saved: Float32Array): void {
    const kept = keptViews.get(saved);
    if (kept?.block.kernel === this) this.drop(kept.block);
  }

  /** The stack shrinks past every freed block on its top. */
  private drop(block: KeptBlock): void {
    if (!block.live) return;
    block.live = false;
    WasmKernel.finalizer.unregister(block);
    while (this.blocks.length > 0 && !this.blocks.at(-1)!.live) this.blocks.pop();
    this.floor = this.blocks.at(-1)?.end ?? this.base;
  }

  /** Room for n floats, zero-filled; returns its byte address. */
  alloc(n: number): number {
    const ptr = this.reserve(n);
    new Float32Array(this.memory.buffer, ptr, n).fill(0);
    return ptr;
  }

  /**
   * Room for n floats holding whatever earlier calls left there: only for buffers the
   * kernel writes in full before reading (zero-filling DMU's saved values and work space
   * cost ~1 ms a training step). The fused-vs-generic tests catch a buffer read unwritten.
   */
  scratch(n: number): number {
    return this.reserve(n);
  }

  /** Copy an array in; returns its byte address. A view from `kept()` is not copied: its address is returned. */
  put(a: Float32Array): number {
    const kept = keptViews.get(a);
    if (kept) {
      if (kept.block.kernel !== this || !kept.block.live) throw new CellstackError(`kernel ${this.label}`, 'was passed a saved value already freed or kept by another kernel', 'a forward pass\'s saved values, once, in its own backward pass');
      return kept.ptr;
    }
    const ptr = this.reserve(a.length);
    new Float32Array(this.memory.buffer, ptr, a.length).set(a);
    return ptr;
  }

  /** Copy an array to a reserved address. */
  write(ptr: number, a: Float32Array): void {
    new Float32Array(this.memory.buffer, ptr, a.length).set(a);
  }

  /** Copy 32-bit integers in (e.g. a program's code); returns its byte address. */
  putInts(a: Int32Array): number {
    const ptr = this.reserve(a.length);
    new Int32Array(this.memory.buffer, ptr, a.length).set(a);
    return ptr;
  }

  private reserve(n: number): number {
    const ptr = this.top;
    this.top = align(ptr + 4 * n);
    const need = this.top - this.memory.buffer.byteLength;
    if (need > 0) this.memory.grow(Math.ceil(need / 65536));
    return ptr;
  }

  /** Copy n floats out (into a pooled array: fusedCall hands it back once no tensor needs it). */
  read(ptr: number, n: number): Float32Array {
    const a = takeArray(n);
    a.set(new Float32Array(this.memory.buffer, ptr, n));
    return a;
  }

  /**
   * One whole call: copy `inputs` in, allocate `outputs` and `scratch` (sizes in floats,
   * zero-filled unless `written`: the kernel writes every element before reading it), run
   * `name(...scalars, ...inputs, ...outputs, ...scratch)`, read the first `read` outputs back
   * in order (default all; a forward pass outside a gradient skips the values saved for
   * backward, which are most of its output bytes).
   */
  run(name: string, scalars: number[], inputs: Float32Array[], outputs: number[], options: RunOptions = {}): Float32Array[] {
    const { scratch = [], read = outputs.length, written = false, scratchWritten = written, views = false, keep = false, outside = [] } = options;
    this.reset();
    // Kept outputs first: keep() extends the block only before any other allocation.
    const keptPtrs = keep ? outputs.slice(0, read).map((n) => this.keep(n, written)) : [];
    let second: ArrayBuffer | undefined;
    const ptrs = [
      ...inputs.map((a, i) => {
        const there = outside.includes(i) && !keptViews.has(a) && a.buffer !== this.memory.buffer && a.buffer instanceof ArrayBuffer;
        if (!there || (second && a.buffer !== second) || a.byteOffset + a.byteLength > SECOND_BUFFER) return this.put(a);
        second = a.buffer;
        return SECOND_BUFFER | a.byteOffset; // negative as an int32: the addon reads bit 31 as "in the second buffer"
      }),
      ...keptPtrs,
      ...outputs.slice(keptPtrs.length).map((n) => (written ? this.scratch(n) : this.alloc(n))),
      ...scratch.map((n) => (scratchWritten ? this.scratch(n) : this.alloc(n))),
    ];
    // Offsets past 2 GiB in this memory would read as the second buffer's: then copy those inputs in after all.
    if (second && this.memory.buffer.byteLength > SECOND_BUFFER) {
      for (const i of outside) if (ptrs[i] < 0) ptrs[i] = this.put(inputs[i]);
      second = undefined;
    }
    this.second = second;
    try {
      this.call(name, ...scalars, ...ptrs);
    } catch (e) {
      if (keep) this.drop(this.blocks.at(-1)!);
      throw e;
    } finally {
      this.second = undefined;
    }
    // One copied in after all (another buffer's, or this memory past 2 GiB) goes back: the kernel may have written it there.
    for (const i of outside) if (ptrs[i] >= 0 && !keptViews.has(inputs[i])) inputs[i].set(this.view(ptrs[i], inputs[i].length));
    const at = (i: number) => ptrs[inputs.length + i];
    return outputs.slice(0, read).map((n, i) => (keep ? this.saved(at(i), n) : views ? this.view(at(i), n) : this.read(at(i), n)));
  }

  /** The module's memory now (a grown memory is a new buffer). */
  get buffer(): ArrayBuffer {
    return this.memory.buffer;
  }

  /**
   * An output of this call for fusedCall to turn into a tensor: in place where tensors copy their data at
   * once (wasm: one copy of it, not two), else a pooled copy (tensors elsewhere keep the array).
   */
  output(ptr: number, n: number): Float32Array {
    return backendCopiesOnWrite() ? this.view(ptr, n) : this.read(ptr, n);
  }

  /** n floats at ptr in place: valid only until this kernel's next call or allocation (see RunOptions.views). */
  view(ptr: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, n);
  }

  call(name: string, ...args: number[]): void {
    const fn = this.fns[name];
    if (!fn) throw new CellstackError(`kernel ${this.label}`, `has no export '${name}' (exports: ${Object.keys(this.fns).join(', ')})`);
    checkInterrupt();
    fn(...args);
  }
}

export interface RunOptions {
  /** Work space after the outputs, sizes in floats. */
  scratch?: number[];
  /** How many outputs to read back (default all). */
  read?: number;
  /** The kernel writes all of outputs and scratch before reading them: skip zero-filling (megabytes a call). */
  written?: boolean;
  /** The kernel writes all of its scratch before reading it (outputs that accumulate stay zero-filled); default `written`. */
  scratchWritten?: boolean;
  /**
   * Return the outputs as views of the kernel's memory instead of copies: for a forward pass
   * outside a gradient on a backend that copies arrays into tensors at once (viewsSafe()),
   * which turns them into tensors before the kernel runs again — one copy of the outputs, not two.
   */
  views?: boolean;
  /**
   * Inputs (by index) that the kernel only hands to the addon's loops (`step` kinds 11–13), never reads or writes
   * itself: only where its host branch runs (`hostRuns`). One that lies outside the kernel's memory (a view of
   * tfjs's heap: an output's gradient, or an output's room) stays there, its offset marked with bit 31, instead of
   * a copy in (and out: the loop may write it).
   */
  outside?: number[];
  /**
   * Keep the outputs read back in kernel memory (`keep()`) and return them as kept views: for a forward
   * pass's saved values, which its backward pass then reads in place — only where tensors copy the
   * outputs at once (keepSafe()). fusedCall frees them after the backward pass.
   */
  keep?: boolean;
}

/** Bit 31 of an operand's offset: it lies in the addon call's second buffer (RunOptions.outside). */
const SECOND_BUFFER = 2 ** 31;

// Whole cache lines: the addon's 8-float loads then never straddle two (a 16-byte-aligned operand made
// W1 LSTM's recurrent products ~25 % slower).
const align = (n: number) => (n + 63) & ~63;

/** Whether a forward pass may hand back views of kernel memory (RunOptions.views): outside a gradient, on wasm. */
export const viewsSafe = (saving: boolean): boolean => !saving && backendCopiesOnWrite();

/** Whether a forward pass may keep its saved values in kernel memory (RunOptions.keep): inside a gradient, on wasm. */
export const keepSafe = (saving: boolean): boolean => saving && backendCopiesOnWrite();

/** Free the kept blocks behind any of these arrays (fusedCall, once the backward pass has read them). */
function releaseKept(arrays: Iterable<Float32Array>): void {
  for (const a of arrays) keptViews.get(a)?.block.kernel.free(a);
}

const zeroArrays = new Map<number, Float32Array>();
/** n zeros, for a kernel input (copied in, never written): e.g. the gradient of a final state nothing used. */
export function zeros(n: number): Float32Array {
  let z = zeroArrays.get(n);
  if (!z) zeroArrays.set(n, (z = new Float32Array(n)));
  return z;
}

// The slice of the WebAssembly API used here (the project's TS lib has no DOM types).
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
const kernels = new Map<string, WasmKernel>();

/**
 * The kernel module at `url` (a file next to the plugin's code, e.g.
 * `new URL('../kernel/star.wasm', import.meta.url)`, made once at module level: a URL
 * made per call costs ~20 µs of a W1 step), compiled once per process.
 */
export function loadKernel(url: URL): WasmKernel {
  let k = kernels.get(url.href);
  if (!k) {
    const path = fileURLToPath(url);
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch {
      throw new CellstackError('kernel', `cannot read ${path}`, 'the package is incomplete: reinstall it, or run `npm run kernels` in a source checkout');
    }
    k = new WasmKernel(new Uint8Array(bytes), path);
    kernels.set(url.href, k);
  }
  return k;
}

let gpuBinding = false;

/** Turn fused kernels on or off process-wide (default on; CELLSTACK_FUSED=0 turns them off): configure({ fused: on }). */
export function setFusedKernels(on: boolean): void {
  configure({ fused: on });
}

export type KernelPreference = 'auto' | 'hand-written' | 'traced';
const fromEnv = process.env.CELLSTACK_KERNELS;
let preference: KernelPreference = fromEnv === 'traced' || fromEnv === 'hand-written' ? fromEnv : 'auto';

/**
 * Which whole-sequence kernel a cell with both runs: `auto` (default) its hand-written one, except
 * where the cell declares its traced step the faster (`CellInstance.tracedWins`); or always its
 * hand-written one, or always its traced step (CELLSTACK_KERNELS=hand-written / traced: tests
 * and benchmarks compare the two).
 */
export function setKernelPreference(p: KernelPreference): void {
  preference = p;
}

export function kernelPreference(): KernelPreference {
  return preference;
}

/** Set by the backend selector: tensors of tfjs-node-gpu live on the GPU, where the generic loop stays. */
export function markGpuBinding(gpu: boolean): void {
  gpuBinding = gpu;
}

/** Whether runSequence may use a cell's fused kernel now: on, and the tensors live in CPU memory. */
export function fusedKernelsActive(): boolean {
  if (!settings().fused) return false;
  const backend = tf.getBackend();
  return backend === 'wasm' || backend === 'cpu' || (backend === 'tensorflow' && !gpuBinding);
}

/** Whether runSequence may use a cell's GPU kernel (`gpuFused`) now: on, and tensors live in WebGPU buffers. */
export function gpuKernelsActive(): boolean {
  return settings().fused && tf.getBackend() === 'webgpu';
}

export interface FusedSpec<S> {
  /**
   * Output arrays in the order of `outShapes`, and whatever backward needs. `saving` is
   * false outside a gradient (predict, evaluate): backward never runs, so `saved` may be
   * left out (undefined) and the kernel need not read it back. With `saving` false, `xs` may be views of
   * tfjs's heap: copy them into the kernel (put, run) before making any tensor. `onHeap[i]`, where
   * `placeOutputs` asked for output i and tfjs keeps tensors on the wasm heap: its tensor's room there, for the
   * kernel to write in place (RunOptions.outside) and return as output i, which then becomes a tensor uncopied.
   */
  forward(xs: Float32Array[], context: { saving: boolean; onHeap: (Float32Array | undefined)[] }): { outputs: Float32Array[]; saved: S | undefined };
  /** The outputs (by index) this pass's kernel can write straight into tensors on tfjs's heap (`onHeap`), if any. */
  placeOutputs?(): number[];
  /**
   * Gradients for every input, in order, given the gradients of every output. `inputGrad` is false where
   * nothing needs the gradient of input 0 (the sequence: a model's first layer reads data): its place may
   * then hold anything (the kernels skip that product). `dys` may be views of tfjs's heap: copy them into
   * the kernel before making any tensor.
   */
  backward(xs: Float32Array[], saved: S, dys: Float32Array[], context: { inputGrad: boolean }): Float32Array[];
}

/**
 * Run a whole-sequence kernel as one tf op with a custom gradient, so autodiff,
 * model.fit and the optimisers see an ordinary differentiable function of `inputs`.
 * Each output is its own tensor: the op is recorded through the engine's runKernelFunc,
 * which takes several outputs (tf.customGrad returns one, and packing the outputs into
 * it and slicing them back cost two copies of every output and a padded gradient).
 */
export function fusedCall<S>(inputs: tf.Tensor[], outShapes: number[][], spec: FusedSpec<S>): tf.Tensor[] {
  const sizes = outShapes.map((s) => s.reduce((a, b) => a * b, 1));
  if (!recordingGradients()) return forwardOnly(inputs, outShapes, sizes, spec);
  let xs: Float32Array[] = [];
  let saved: S | undefined;
  const keep = new Set<Float32Array>();
  const copies = backendCopiesOnWrite();
  const forwardFunc = () => {
    wakeThreads();
    const placed = place(spec, outShapes, sizes);
    xs = inputs.map(tensorData);
    let forward: ReturnType<FusedSpec<S>['forward']>;
    try {
      forward = spec.forward(xs, { saving: true, onHeap: placed.onHeap });
    } catch (e) {
      recycleArrays(xs); // interrupted (or failed): nothing will read them
      placed.free();
      throw e;
    }
    saved = forward.saved;
    wakeThreads(); // the next layer's (or the head's) product comes after the output copies
    for (const a of arraysIn(saved)) keep.add(a);
    const values = forward.outputs.map(placed.tensor);
    // Arrays go back to the pool once nothing can read them: tensors copy them at once on
    // wasm and keep them elsewhere; the saved ones live until backward.
    if (copies) recycleArrays(forward.outputs.filter((a) => !keep.has(a)));
    else forward.outputs.forEach((a) => keep.delete(a)); // a tensor holds it
    return values;
  };
  /*
   * tfjs calls the gradient functions of the inputs on the gradient's path, in input order, right after
   * this returns (tfjs-core tape.ts, backpropagateGradients): so the first one called tells whether input 0's
   * is wanted, and the kernel runs then. Each tensor is made in its own call (tfjs keeps only what it returns).
   */
  const backwardsFunc = (dy: tf.Tensor | tf.Tensor[]) => {
    let grads: Float32Array[] | undefined;
    const run = (first: number): Float32Array[] => {
      wakeThreads();
      // Views of tfjs's heap where it can: the kernel copies them in before any tensor is made.
      const dys = (Array.isArray(dy) ? dy : [dy]).map(tensorView);
      try {
        grads = spec.backward(xs, saved as S, dys, { inputGrad: first === 0 });
      } finally {
        releaseKept(keep);
        recycleArrays([...dys, ...xs, ...keep, ...(copies && grads ? grads.slice(0, first) : [])]);
      }
      return grads;
    };
    const grad = (i: number) => () => {
      const g = (grads ?? run(i))[i];
      const t = tf.tensor(g, inputs[i].shape);
      if (copies) recycleArrays([g]);
      return t;
    };
    return Object.fromEntries(inputs.map((_, i) => [i, grad(i)]));
  };
  // A direct training step (accel/train-step.ts) records the op itself and calls backwardsFunc as tf's tape would.
  const inputMap = byIndex(inputs);
  const tape = openTape();
  if (tape) {
    const outputs = forwardFunc();
    tape.push({
      inputs: inputMap,
      outputs,
      gradient: (dys) => backwardsFunc(dys.length > 1 ? dys : dys[0]),
      discard: () => {
        releaseKept(keep);
        recycleArrays([...xs, ...keep]);
      },
    });
    return outputs;
  }
  const engine = tf.engine() as unknown as { runKernelFunc(p: { forwardFunc: () => tf.Tensor[]; backwardsFunc: typeof backwardsFunc; inputs: Record<number, tf.Tensor> }): tf.Tensor | tf.Tensor[] };
  const out = engine.runKernelFunc({ forwardFunc, backwardsFunc, inputs: inputMap });
  return Array.isArray(out) ? out : [out];
}

/**
 * Outside a gradient (inference: predict, evaluate) no gradient function is needed: each output
 * becomes its own tensor, with none of the packing into one tensor and slicing back that
 * tf.customGrad's single result costs (two copies of the outputs), and nothing saved is read.
 */
function forwardOnly<S>(inputs: tf.Tensor[], outShapes: number[][], sizes: number[], spec: FusedSpec<S>): tf.Tensor[] {
  const placed = place(spec, outShapes, sizes);
  // Views of tfjs's heap where it can (after its allocations above): the kernel copies them in before any tensor is made.
  const xs = inputs.map(tensorView);
  let pass: ReturnType<FusedSpec<S>['forward']>;
  try {
    pass = spec.forward(xs, { saving: false, onHeap: placed.onHeap });
  } catch (e) {
    placed.free();
    throw e;
  }
  const { outputs, saved } = pass;
  const result = outputs.map(placed.tensor);
  // Tensors copy the arrays at once on wasm and keep them elsewhere; anything saved regardless is free too.
  const held = new Set(backendCopiesOnWrite() ? [] : outputs);
  releaseKept(arraysIn(saved));
  recycleArrays([...xs, ...outputs, ...arraysIn(saved)].filter((a) => !held.has(a)));
  return result;
}

/**
 * The room on tfjs's heap for the outputs `spec.placeOutputs` asks for (none off the wasm backend), by output index;
 * `tensor(a, i)` makes output i's tensor (in place where `a` is its room, else a copy); `free()` after a failed pass.
 */
function place<S>(spec: FusedSpec<S>, outShapes: number[][], sizes: number[]) {
  const which = spec.placeOutputs?.() ?? [];
  const placed = heapOutputs(which.map((i) => outShapes[i]));
  const onHeap: (Float32Array | undefined)[] = [];
  if (placed) which.forEach((i, k) => (onHeap[i] = placed.views[k]));
  return {
    onHeap,
    tensor: (a: Float32Array, i: number): tf.Tensor => (onHeap[i] === a ? placed!.tensor(a) : tf.tensor(a.subarray(0, sizes[i]), outShapes[i])),
    free: () => placed?.free(),
  };
}

/** Whether tf is recording a tape for gradients now (tfjs-core 4.x: inside tf.grad, variableGrads, minimize). */
export const recordingGradients = () => (tf.engine() as unknown as { state: { gradientDepth: number } }).state.gradientDepth > 0;

/** The Float32Arrays in a spec's saved value: itself, or those in an array or object of them. */
function arraysIn(saved: unknown): Float32Array[] {
  if (saved instanceof Float32Array) return [saved];
  const items = Array.isArray(saved) ? saved : saved && typeof saved === 'object' ? Object.values(saved) : [];
  return items.filter((v): v is Float32Array => v instanceof Float32Array);
}
