import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { CellstackError } from './errors.js';
import { installWebGpuCast } from './gpu/cast.js';

/** The WebGPU adapter a backend runs on, as Dawn reports it (GPUAdapterInfo). */
export interface GpuAdapter {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A software adapter (e.g. Mesa's lavapipe / llvmpipe): correct, but no faster than the CPU paths. */
  fallback: boolean;
}

/** Adapter plus the objects tfjs-backend-webgpu needs; `why` says what was missing when there is none. */
export type WebGpuProbe = { adapter: GpuAdapter; open(): Promise<void> } | { adapter?: undefined; why: string };

// The slice of Dawn's API used here (the project's TS lib has no WebGPU types).
interface DawnAdapter {
  readonly info: { vendor: string; architecture: string; device: string; description: string; isFallbackAdapter?: boolean };
  readonly isFallbackAdapter?: boolean;
  readonly limits: Record<string, number>;
  readonly features: ReadonlySet<string>;
  requestDevice(descriptor?: object): Promise<DawnDevice>;
}
interface DawnDevice {
  onuncapturederror: ((e: { error: { message: string } }) => void) | null;
}
interface DawnGpu {
  requestAdapter(options?: object): Promise<DawnAdapter | null>;
}

const optionalImport = (spec: string) => import(/* @vite-ignore */ spec);

let probed: Promise<WebGpuProbe> | undefined;

/**
 * Load Dawn (the optional `webgpu` package) and ask it for the high-performance adapter,
 * once per process. Nothing is activated: `open()` registers and selects tf's 'webgpu'
 * backend on that adapter.
 */
export function probeWebGpu(): Promise<WebGpuProbe> {
  probed ??= probe();
  return probed;
}

async function probe(): Promise<WebGpuProbe> {
  let dawn: { create(flags: string[]): DawnGpu; globals: object };
  let tfWebgpu: { WebGPUBackend: new (device: DawnDevice, info: unknown) => tf.KernelBackend };
  try {
    dawn = await optionalImport('webgpu');
  } catch (e) {
    return { why: `the optional package 'webgpu' (Dawn) is not installed or does not load here (${firstLine(e)})` };
  }
  try {
    tfWebgpu = await optionalImport('@tensorflow/tfjs-backend-webgpu');
  } catch (e) {
    return { why: `the optional package '@tensorflow/tfjs-backend-webgpu' is not installed (${firstLine(e)})` };
  }
  // The Vulkan loader warns on every call without a runtime folder; give it a private one.
  if (!process.env.XDG_RUNTIME_DIR) {
    const dir = join(tmpdir(), `cellstack-xdg-${process.getuid?.() ?? 'user'}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    process.env.XDG_RUNTIME_DIR = dir;
  }
  Object.assign(globalThis, dawn.globals);
  const gpu = dawn.create([]);
  const raw = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!raw) {
    return { why: 'Dawn found no WebGPU adapter (Linux needs a Vulkan driver: a GPU vendor\'s, or Mesa ≥ 25 lavapipe for a software one)' };
  }
  const adapter: GpuAdapter = {
    vendor: raw.info.vendor,
    architecture: raw.info.architecture,
    device: raw.info.device,
    description: raw.info.description,
    fallback: Boolean(raw.info.isFallbackAdapter ?? raw.isFallbackAdapter),
  };
  const open = async () => {
    if (tf.findBackend('webgpu')) return;
    // tfjs-backend-webgpu looks for navigator.gpu (Node ≥ 21 has a navigator without one).
    const nav = (globalThis as { navigator?: object }).navigator;
    if (nav) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
    else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
    // The limits tfjs-backend-webgpu asks for when it opens the device itself, and all the
    // storage buffers a shader may bind (tf's AddN binds every input).
    const keys = ['maxComputeWorkgroupStorageSize', 'maxComputeWorkgroupsPerDimension', 'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupSizeX', 'maxComputeInvocationsPerWorkgroup', 'maxStorageBuffersPerShaderStage'];
    const device = await raw.requestDevice({ requiredLimits: Object.fromEntries(keys.map((k) => [k, raw.limits[k]])) });
    // Dawn only prints a failed shader or dispatch and carries on with garbage: keep the
    // first error and fail the next read of any tensor with it.
    device.onuncapturederror = (e) => (gpuError ??= e.error.message);
    tf.registerBackend('webgpu', () => checkedBackend(new tfWebgpu.WebGPUBackend(device, raw.info)));
    installWebGpuCast();
  };
  return { adapter, open };
}

let gpuError: string | undefined;

function checkedBackend(backend: tf.KernelBackend): tf.KernelBackend {
  const read = backend.read.bind(backend);
  backend.read = async (dataId) => {
    const values = await read(dataId);
    if (gpuError) throw new CellstackError('webgpu', `a GPU program failed: ${gpuError.split('\n')[0]}`);
    return values;
  };
  return backend;
}

/** "vendor device (architecture)", e.g. "mesa llvmpipe-llvm-15… (software)". */
export function describeAdapter(a: GpuAdapter): string {
  return `${a.vendor || 'unknown vendor'} ${a.device || a.description || 'unknown device'}${a.architecture ? ` (${a.architecture})` : ''}${a.fallback ? ', software fallback adapter' : ''}`;
}

const firstLine = (e: unknown) => String(e instanceof Error ? e.message : e).split('\n')[0];
