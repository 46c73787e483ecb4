import { createRequire } from 'node:module';
import { CellstackError } from './errors.js';
import { checkInterrupt } from './interrupt.js';
import { countProduct } from './products.js';
import { NATIVE_MIN_PRODUCT, configure, onConfigure, settings, type Settings } from './settings.js';

type HostMatmul = (memory: ArrayBuffer, M: number, N: number, K: number, A: number, sa: number, sk: number, B: number, ldb: number,
  C: number, ldc: number, accumulate: number) => void;
type HostMatmulBatch = (memory: ArrayBuffer, count: number, bsa: number, bsb: number, bsc: number, M: number, N: number, K: number, A: number,
  sa: number, sk: number, B: number, ldb: number, C: number, ldc: number, accumulate: number) => void;
type HostGates = (memory: ArrayBuffer, kind: number, B: number, H: number, z: number, ldz: number, prev: number, ldp: number, c: number, h: number, ldh: number) => void;
type HostStep = (memory: ArrayBuffer, kind: number, B: number, H: number, args: number, second?: ArrayBuffer) => void;
type HostTrace = (memory: ArrayBuffer, code: number, steps: number, t0: number, dt: number) => number;
type HostTraceParts = (memory: ArrayBuffer, list: number, parts: number, steps: number, t0: number, dt: number) => number;
interface Addon {
  matmul?: HostMatmul;
  matmulBatch?: HostMatmulBatch;
  gates?: HostGates;
  step?: HostStep;
  trace?: HostTrace;
  traceParts?: HostTraceParts;
  isa: string;
  setThreads?: (n: number) => number;
  wake?: () => void;
}

let loaded: Addon | undefined;
const switches = new Set<(minProduct: number) => void>();

/** The addon, loaded on first use while the settings allow it (CELLSTACK_NATIVE=0: never loaded). */
function addon(): Addon {
  if (loaded) return loaded;
  if (!settings().native) return { isa: 'none: off (CELLSTACK_NATIVE=0)' };
  try {
    loaded = createRequire(import.meta.url)('@cellstack/native') as Addon;
    // The kernels call every host function once the products go native: an older build lacks some.
    if (loaded.matmul && (!loaded.matmulBatch || !loaded.gates || !loaded.step || !loaded.trace || !loaded.traceParts)) loaded = { isa: 'none: @cellstack/native is out of date (run `npm rebuild @cellstack/native`)' };
  } catch {
    loaded = { isa: 'none: the optional dependency @cellstack/native is not installed' };
  }
  loaded.setThreads?.(settings().threads);
  return loaded;
}

onConfigure((s: Readonly<Settings>) => {
  if (loaded) loaded.setThreads?.(s.threads);
  else if (s.native && switches.size > 0) addon(); // a kernel loaded while native was off now follows it
  for (const set of switches) set(minProductNow());
});

export interface NativeKernels {
  /** The addon is installed, built and supported by this CPU. */
  available: boolean;
  /** Fused kernels send their products to it now. */
  active: boolean;
  /** Products of at least this many multiply-adds go native. */
  minProduct: number;
  /** Its instruction set ("avx2+fma", "neon"; ", gate math avx512f" where the step math runs 16 lanes), or "none: <why>". */
  isa: string;
  /** Threads its larger products run on (1 when the addon is not active). */
  threads: number;
  /** Traced kernels' programs run on the addon's copy of their interpreter (else in wasm). */
  traced: boolean;
}

/** Whether the fused kernels multiply through the optional native addon (@cellstack/native), and on how many threads. */
export function nativeKernels(): NativeKernels {
  const a = addon();
  const available = a.matmul !== undefined;
  const active = available && settings().native;
  return { available, active, minProduct: settings().nativeMinProduct, isa: a.isa, threads: active && a.setThreads ? settings().threads : 1, traced: active && a.trace !== undefined };
}

/**
 * Send the fused kernels' matrix products to the native addon (when it is available) or
 * keep them in wasm; products below `minProduct` multiply-adds always stay in wasm.
 * The same as `configure({ native: on, nativeMinProduct: minProduct })`.
 */
export function setNativeKernels(on: boolean, minProduct = NATIVE_MIN_PRODUCT): void {
  if (!Number.isInteger(minProduct) || minProduct < 1) throw new CellstackError('setNativeKernels', `minProduct is ${minProduct}`, 'a positive integer');
  configure({ native: on, nativeMinProduct: minProduct });
}

/**
 * The addon's product when it is active and a product of `multiplyAdds` goes to it (the
 * threshold of the fused kernels), else undefined: accel/matmul.ts sends tfjs's own
 * matmuls there (the dense layers, their gradients) on the wasm heap.
 */
export function nativeProduct(multiplyAdds: number): HostMatmul | undefined {
  const s = settings();
  return s.native && multiplyAdds >= s.nativeMinProduct ? addon().matmul : undefined;
}

/**
 * Wake the addon's sleeping threads ahead of a layer's products (no-op when they do not go native): called
 * before the input copies of a fused layer's pass, so the first product finds its threads awake.
 */
export function wakeThreads(): void {
  if (settings().native) loaded?.wake?.();
}

/**
 * The addon's traced-program runner (kernel/trace.c's interpreter, compiled into the addon) when the
 * fused kernels' products go to the addon now, as the hand-written kernels choose it; else undefined
 * (the wasm interpreter runs the program).
 */
export function nativeTrace(): HostTrace | undefined {
  return settings().native ? addon().trace : undefined;
}

/**
 * Where the addon runs traced programs (as `nativeTrace`) and the `rowBlocks` setting allows it: its runner
 * of several programs side by side, one a thread, and how many threads it may use; else undefined.
 */
export function nativeTraceParts(): { run: HostTraceParts; threads: number } | undefined {
  const s = settings();
  const run = s.native && s.rowBlocks ? addon().traceParts : undefined;
  return run && { run, threads: s.threads };
}

const minProductNow = () => (settings().native && loaded?.matmul ? settings().nativeMinProduct : 0);

/**
 * The `step` kinds that run a whole recurrence: their block's length in int32s (T last), U's width in units of H,
 * and where the block holds F, the width of an input projection the loop makes too (the LSTM's forward).
 */
const LOOP_KINDS: Record<number, { slots: number; width: number; f?: number }> = {
  10: { slots: 7, width: 1 },
  11: { slots: 17, width: 4, f: 11 },
  12: { slots: 14, width: 4 },
  13: { slots: 11, width: 3 },
};

/**
 * The `env` imports of a kernel module (`cs_host_matmul`, `cs_host_matmul_batch`, `cs_host_gates`, `cs_host_step`) on its own memory, and a hook to
 * call with its `cs_use_host` export, which then follows the settings. `second`: the buffer that the loop kinds' operands
 * with bit 31 set lie in during the current call (WasmKernel's operands left outside its memory), if any.
 */
export function hostImports(memory: () => { buffer: ArrayBuffer }, second: () => ArrayBuffer | undefined) {
  let minProduct = 0;
  const cs_host_matmul = (M: number, N: number, K: number, A: number, sa: number, sk: number, B: number, ldb: number, C: number, ldc: number, acc: number) => {
    checkInterrupt(); // a whole-sequence kernel can stop between its products
    countProduct(M * N * K);
    loaded!.matmul!(memory().buffer, M, N, K, A, sa, sk, B, ldb, C, ldc, acc);
  };
  // Several products in one call (cs_matmul_batch: the input projections over a batch's sequences).
  const cs_host_matmul_batch = (count: number, bsa: number, bsb: number, bsc: number, M: number, N: number, K: number, A: number, sa: number, sk: number,
    B: number, ldb: number, C: number, ldc: number, acc: number) => {
    checkInterrupt();
    countProduct(count * M * N * K);
    loaded!.matmulBatch!(memory().buffer, count, bsa, bsb, bsc, M, N, K, A, sa, sk, B, ldb, C, ldc, acc);
  };
  // A step's gate math (kernel/lstm.c, gru.c), called only while the products go native.
  const cs_host_gates = (kind: number, B: number, H: number, z: number, ldz: number, prev: number, ldp: number, c: number, h: number, ldh: number) =>
    loaded!.gates!(memory().buffer, kind, B, H, z, ldz, prev, ldp, c, h, ldh);
  // The other cells' step math (kernel/star.c, janet.c, simple-rnn.c): operands in a block at `args`. The
  // whole-loop kinds multiply too: their products count like cs_host_matmul's (T is the block's last int32).
  const cs_host_step = (kind: number, B: number, H: number, args: number) => {
    const loop = LOOP_KINDS[kind];
    if (loop) {
      const block = new Int32Array(memory().buffer, args, loop.slots);
      countProduct(block[loop.slots - 1] * B * H * loop.width * (H + (loop.f === undefined ? 0 : block[loop.f])));
    }
    const outside = second();
    if (outside) loaded!.step!(memory().buffer, kind, B, H, args, outside);
    else loaded!.step!(memory().buffer, kind, B, H, args);
  };
  return {
    env: { cs_host_matmul, cs_host_matmul_batch, cs_host_gates, cs_host_step },
    follow(useHost: unknown) {
      if (typeof useHost !== 'function') return; // a kernel built without the host product
      const set = (m: number) => {
        (useHost as (minProduct: number) => void)(m);
        minProduct = m;
      };
      switches.add(set);
      addon();
      set(minProductNow());
    },
    /** Whether the kernel's host branches for `work` multiply-adds run now (its C test: cs_host_min > 0 && work >= cs_host_min). */
    runs: (work: number) => minProduct > 0 && work >= minProduct,
  };
}
