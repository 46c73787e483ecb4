import * as tf from '@tensorflow/tfjs-core';
import { accelState, installAccel, type AccelState } from './accel/index.js';
import { CellstackError } from './errors.js';
import { markGpuBinding } from './kernel.js';

export type BackendChoice = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
export const BACKENDS: readonly BackendChoice[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

/**
 * The embedded default when no TensorFlow binding is installed. Measured with
 * tools/bench on the 2-core CI machine: wasm (XNNPACK, SIMD) trains the cells
 * several times faster than the pure-JS cpu backend (see the README's table).
 */
export const EMBEDDED_DEFAULT: 'wasm' | 'cpu' = 'wasm';

export interface BackendInfo {
  /** tf's name of the active backend: 'tensorflow', 'wasm' or 'cpu'. */
  name: string;
  /** Which package provided it and why it was chosen. */
  reason: string;
  /** cellstack's tfjs-backend-wasm patches (core/src/accel): on, which, and why. */
  accel?: AccelState;
}

// Dynamic specifiers so bundlers and tsc do not require the optional peers.
const optionalImport = (spec: string) => import(/* @vite-ignore */ spec);

async function tryTensorflow(): Promise<string | undefined> {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await optionalImport(pkg);
      if (tf.findBackend('tensorflow')) {
        await tf.setBackend('tensorflow');
        markGpuBinding(pkg.endsWith('-gpu'));
        return pkg;
      }
    } catch {
      // not installed or its native library failed to load: try the next one
    }
  }
  return undefined;
}

async function useEmbedded(name: 'wasm' | 'cpu'): Promise<void> {
  if (name === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
  else await import('@tensorflow/tfjs-backend-cpu');
  if (!(await tf.setBackend(name))) throw new CellstackError('backend', `the ${name} backend failed to initialise`);
  await tf.ready();
}

/**
 * Activate a backend. 'auto' takes tfjs-node-gpu, then tfjs-node, when they resolve,
 * else the embedded default. The CELLSTACK_BACKEND environment variable overrides
 * 'auto'.
 */
export async function selectBackend(choice: BackendChoice = 'auto'): Promise<BackendInfo> {
  const info = await activate(choice);
  installAccel();
  return { ...info, accel: accelState() };
}

async function activate(choice: BackendChoice): Promise<BackendInfo> {
  if (!BACKENDS.includes(choice)) {
    throw new CellstackError('backend', `must be one of ${BACKENDS.map((b) => `'${b}'`).join(' | ')} (got ${JSON.stringify(choice)})`);
  }
  const env = process.env.CELLSTACK_BACKEND as BackendChoice | undefined;
  if (choice === 'auto' && env && env !== 'auto') {
    if (!BACKENDS.includes(env)) throw new CellstackError('CELLSTACK_BACKEND', `must be one of ${BACKENDS.join(', ')} (got '${env}')`);
    const info = await activate(env);
    return { ...info, reason: `${info.reason} (from CELLSTACK_BACKEND)` };
  }
  if (choice === 'tensorflow' || choice === 'auto') {
    const pkg = await tryTensorflow();
    if (pkg) return { name: 'tensorflow', reason: `${pkg} (native TensorFlow)` };
    if (choice === 'tensorflow') {
      throw new CellstackError('backend', "'tensorflow' needs @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node installed", "install one, or use 'auto' / 'wasm' / 'cpu'");
    }
    await useEmbedded(EMBEDDED_DEFAULT);
    return { name: EMBEDDED_DEFAULT, reason: `embedded default (${EMBEDDED_DEFAULT}; no tfjs-node binding installed)` };
  }
  await useEmbedded(choice);
  return { name: choice, reason: `${choice} (asked for)` };
}
