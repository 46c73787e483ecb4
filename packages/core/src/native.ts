import { createRequire } from 'node:module';
import { CellstackError } from './errors.js';

type HostMatmul = (memory: ArrayBuffer, M: number, N: number, K: number, A: number, sa: number, sk: number, B: number, ldb: number,
  C: number, ldc: number, accumulate: number) => void;

/**
 * Products below this many multiply-adds stay in wasm: a host call costs ~0.3 µs, which
 * the addon's 2× speed repays from about 16k (W1's per-step products are 0.5–1M).
 */
export const NATIVE_MIN_PRODUCT = 16384;

/** CELLSTACK_NATIVE: unset or 1 = use the addon when installed, 0 = never (not even loaded), all = every product (tests). */
function fromEnv(): { on: boolean; minProduct: number } {
  const v = process.env.CELLSTACK_NATIVE;
  if (v === undefined || v === '' || v === '1') return { on: true, minProduct: NATIVE_MIN_PRODUCT };
  if (v === '0') return { on: false, minProduct: NATIVE_MIN_PRODUCT };
  if (v === 'all') return { on: true, minProduct: 1 };
  throw new CellstackError('CELLSTACK_NATIVE', `is '${v}'`, "use 1 (the default: the native addon when installed), 0 (wasm only) or 'all' (every product, for tests)");
}

function loadAddon(): { matmul?: HostMatmul; isa: string } {
  try {
    return createRequire(import.meta.url)('@cellstack/native') as { matmul?: HostMatmul; isa: string };
  } catch {
    return { isa: 'none: the optional dependency @cellstack/native is not installed' };
  }
}

const setting = fromEnv();
const addon = setting.on ? loadAddon() : { isa: 'none: off (CELLSTACK_NATIVE=0)' };
const switches = new Set<(minProduct: number) => void>();

export interface NativeKernels {
  /** The addon is installed, built and supported by this CPU. */
  available: boolean;
  /** Fused kernels send their products to it now. */
  active: boolean;
  /** Products of at least this many multiply-adds go native. */
  minProduct: number;
  /** Its instruction set ("avx2+fma", "neon"), or "none: <why>". */
  isa: string;
}

/** Whether the fused kernels multiply through the optional native addon (@cellstack/native). */
export function nativeKernels(): NativeKernels {
  const available = addon.matmul !== undefined;
  return { available, active: available && setting.on, minProduct: setting.minProduct, isa: addon.isa };
}

/**
 * Send the fused kernels' matrix products to the native addon (when it is available) or
 * keep them in wasm; products below `minProduct` multiply-adds always stay in wasm.
 */
export function setNativeKernels(on: boolean, minProduct = NATIVE_MIN_PRODUCT): void {
  if (!Number.isInteger(minProduct) || minProduct < 1) throw new CellstackError('setNativeKernels', `minProduct is ${minProduct}`, 'a positive integer');
  setting.on = on;
  setting.minProduct = minProduct;
  for (const set of switches) set(current());
}

const current = () => (setting.on && addon.matmul ? setting.minProduct : 0);

/**
 * The `env` imports of a kernel module (`cs_host_matmul`) on its own memory, and a hook to
 * call with its `cs_use_host` export, which then follows setNativeKernels.
 */
export function hostImports(memory: () => { buffer: ArrayBuffer }) {
  const matmul = addon.matmul;
  const cs_host_matmul = (M: number, N: number, K: number, A: number, sa: number, sk: number, B: number, ldb: number, C: number, ldc: number, acc: number) =>
    matmul!(memory().buffer, M, N, K, A, sa, sk, B, ldb, C, ldc, acc);
  return {
    env: { cs_host_matmul },
    follow(useHost: unknown) {
      if (typeof useHost !== 'function') return; // a kernel built without the host product
      const set = useHost as (minProduct: number) => void;
      switches.add(set);
      set(current());
    },
  };
}
