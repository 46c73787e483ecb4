import { availableParallelism } from 'node:os';
import { CellstackError } from './errors.js';

/** Process-wide switches of the kernel paths: environment defaults, changed with `configure`. */
export interface Settings {
  /** Whole-sequence fused kernels where a cell has one (CELLSTACK_FUSED, default on; 0 = the generic step loop). */
  fused: boolean;
  /** The fused kernels' products through the native addon when installed (CELLSTACK_NATIVE, default on; 0 = never load it). */
  native: boolean;
  /** Products of at least this many multiply-adds go to the addon (CELLSTACK_NATIVE_MIN; CELLSTACK_NATIVE=all sets 1). */
  nativeMinProduct: number;
  /** Threads for the addon's products (CELLSTACK_THREADS, default: the cores available to this process). */
  threads: number;
  /** cellstack's replacement kernels for tfjs-backend-wasm, installed when wasm is selected (CELLSTACK_ACCEL, default on). */
  accel: boolean;
  /**
   * Traced kernels on the addon run blocks of batch rows side by side, one a thread, where the step keeps
   * rows apart (CELLSTACK_ROW_BLOCKS, default on; 0 = one program over the whole batch, its products and
   * elementwise runs split per step, so that parameter gradients sum in one order on any thread count).
   */
  rowBlocks: boolean;
  /**
   * Training steps of a chain of layers (model.fit, trainOnBatch) keep their own tape of cellstack's ops
   * instead of tf's engine bookkeeping, with bit-identical results, while the wasm patches are on
   * (CELLSTACK_DIRECT_STEPS, default on; 0 = tfjs-layers' own train function).
   */
  directSteps: boolean;
}

/**
 * Products below this many multiply-adds stay in wasm: a host call costs ~0.3 µs, which
 * the addon's 2× speed repays from about 16k (W1's per-step products are 0.5–1M).
 */
export const NATIVE_MIN_PRODUCT = 16384;

type Env = Record<string, string | undefined>;

const onOff = (env: Env, name: string, fallback: boolean): boolean => {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  if (v === '1' || v === '0') return v === '1';
  throw new CellstackError(name, `is '${v}'`, 'use 1 (on) or 0 (off)');
};

const count = (env: Env, name: string, fallback: number, what: string): number => {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  if (!/^[1-9][0-9]*$/.test(v) || !Number.isSafeInteger(Number(v))) throw new CellstackError(name, `is '${v}'`, `use a positive integer (${what})`);
  return Number(v);
};

/** The settings an environment asks for; throws a CellstackError naming the first bad variable. */
export function settingsFromEnv(env: Env): Settings {
  const native = env.CELLSTACK_NATIVE;
  if (native !== undefined && !['', '0', '1', 'all'].includes(native)) {
    throw new CellstackError('CELLSTACK_NATIVE', `is '${native}'`, "use 1 (the default: the native addon when installed), 0 (wasm only) or 'all' (every product, for tests)");
  }
  return {
    fused: onOff(env, 'CELLSTACK_FUSED', true),
    native: native !== '0',
    nativeMinProduct: native === 'all' ? 1 : count(env, 'CELLSTACK_NATIVE_MIN', NATIVE_MIN_PRODUCT, 'multiply-adds'),
    threads: count(env, 'CELLSTACK_THREADS', availableParallelism(), 'threads for the native products'),
    accel: onOff(env, 'CELLSTACK_ACCEL', true),
    rowBlocks: onOff(env, 'CELLSTACK_ROW_BLOCKS', true),
    directSteps: onOff(env, 'CELLSTACK_DIRECT_STEPS', true),
  };
}

let current: Settings | undefined;
const listeners = new Set<(s: Readonly<Settings>) => void>();

/**
 * The current settings, read from the environment on first use (not at import: a bad
 * value throws here, naming the variable, on every call until the environment is fixed).
 */
export function settings(): Readonly<Settings> {
  current ??= settingsFromEnv(process.env);
  return current;
}

/** Change settings process-wide; unnamed ones keep their values. Returns the new settings. */
export function configure(changes: Partial<Settings>): Readonly<Settings> {
  const next = { ...settings() };
  for (const [key, value] of Object.entries(changes) as [keyof Settings, unknown][]) {
    if (!(key in next)) throw new CellstackError(`configure.${key}`, 'is not a setting', `use one of ${Object.keys(next).join(', ')}`);
    if (value === undefined) continue;
    const integer = key === 'threads' || key === 'nativeMinProduct';
    if (integer ? !(Number.isSafeInteger(value) && (value as number) >= 1) : typeof value !== 'boolean') {
      throw new CellstackError(`configure.${key}`, `is ${JSON.stringify(value)}`, integer ? 'a positive integer' : 'true or false');
    }
    (next as Record<string, unknown>)[key] = value;
  }
  current = next;
  for (const listen of listeners) listen(next);
  return next;
}

/** Call `listen` with the settings after every `configure`. */
export function onConfigure(listen: (s: Readonly<Settings>) => void): void {
  listeners.add(listen);
}
