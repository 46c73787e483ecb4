import * as tf from '@tensorflow/tfjs-core';
import { accelState, installAccel, type AccelState } from './accel/index.js';
import { CellstackError } from './errors.js';
import { markGpuBinding } from './kernel.js';
import { describeAdapter, probeWebGpu, type GpuAdapter } from './webgpu.js';

export type BackendChoice = 'auto' | 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';
export const BACKENDS: readonly BackendChoice[] = ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'];

/**
 * The embedded default when no TensorFlow binding is installed. Measured with
 * tools/bench on the 2-core CI machine: wasm (XNNPACK, SIMD) trains the cells
 * several times faster than the pure-JS cpu backend (see the README's table).
 */
export const EMBEDDED_DEFAULT: 'wasm' | 'cpu' = 'wasm';

export interface BackendInfo {
  /** tf's name of the active backend: 'tensorflow', 'webgpu', 'wasm' or 'cpu'. */
  name: string;
  /** Which package provided it and why it was chosen. */
  reason: string;
  /** The WebGPU adapter, on 'webgpu'. */
  adapter?: GpuAdapter;
  /** cellstack's tfjs-backend-wasm patches (core/src/accel): on, which, and why. */
  accel?: AccelState;
}

// Dynamic specifiers so bundlers and tsc do not require the optional peers.
const optionalImport = (spec: string) => import(/* @vite-ignore */ spec);

async function tryTensorflow(pkgs: string[]): Promise<string | undefined> {
  for (const pkg of pkgs) {
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

/** Activate tf's 'webgpu' backend on Dawn's adapter; software adapters only when `allowFallback`. */
async function useWebGpu(allowFallback: boolean): Promise<{ adapter: GpuAdapter } | { why: string }> {
  const probe = await probeWebGpu();
  if (!probe.adapter) return probe;
  if (probe.adapter.fallback && !allowFallback) {
    return { why: `only a software WebGPU adapter (${describeAdapter(probe.adapter)}), used only when asked for: --backend webgpu` };
  }
  await probe.open();
  if (!(await tf.setBackend('webgpu'))) return { why: `tfjs-backend-webgpu failed to initialise on ${describeAdapter(probe.adapter)}` };
  await tf.ready();
  return { adapter: probe.adapter };
}

/**
 * Activate a backend. 'auto' takes, in order: tfjs-node-gpu, a hardware (non-fallback)
 * WebGPU adapter, tfjs-node, the embedded default; its reason says why each earlier one
 * was passed over. 'webgpu' also takes a software adapter. The CELLSTACK_BACKEND
 * environment variable overrides 'auto'.
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
  if (choice === 'tensorflow') {
    const pkg = await tryTensorflow(['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']);
    if (pkg) return { name: 'tensorflow', reason: `${pkg} (native TensorFlow)` };
    throw new CellstackError('backend', "'tensorflow' needs @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node installed", "install one, or use 'auto' / 'webgpu' / 'wasm' / 'cpu'");
  }
  if (choice === 'webgpu') {
    const r = await useWebGpu(true);
    if ('why' in r) throw new CellstackError('backend', `'webgpu' is not available: ${r.why}`, "see the README's \"Using a GPU\"; or use 'auto' / 'wasm' / 'cpu'");
    return { name: 'webgpu', reason: `webgpu (asked for) on ${describeAdapter(r.adapter)}`, adapter: r.adapter };
  }
  if (choice === 'auto') {
    const gpuPkg = await tryTensorflow(['@tensorflow/tfjs-node-gpu']);
    if (gpuPkg) return { name: 'tensorflow', reason: `${gpuPkg} (native TensorFlow with CUDA)` };
    const gpu = await useWebGpu(false);
    if ('adapter' in gpu) return { name: 'webgpu', reason: `WebGPU on ${describeAdapter(gpu.adapter)} (no tfjs-node-gpu)`, adapter: gpu.adapter };
    const pkg = await tryTensorflow(['@tensorflow/tfjs-node']);
    if (pkg) return { name: 'tensorflow', reason: `${pkg} (native TensorFlow; no tfjs-node-gpu; WebGPU: ${gpu.why})` };
    await useEmbedded(EMBEDDED_DEFAULT);
    return { name: EMBEDDED_DEFAULT, reason: `embedded default (${EMBEDDED_DEFAULT}; no tfjs-node binding installed; WebGPU: ${gpu.why})` };
  }
  await useEmbedded(choice);
  return { name: choice, reason: `${choice} (asked for)` };
}
