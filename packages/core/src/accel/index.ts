import * as tf from '@tensorflow/tfjs-core';
import { settings } from '../settings.js';
import { installHeapAdam } from './adam.js';
import { installDenseHead } from './head.js';
import { restoreWasmKernels } from './heap.js';
import { patchWasmIdentity } from './identity.js';
import { patchWasmMatMul } from './matmul.js';
import { patchWasmSlice } from './slice.js';
import { installDirectSteps } from './train-step.js';

/*
 * cellstack's patches to tfjs-backend-wasm 4.22, all in this folder: replacement kernels
 * (matmul, slice, identity), the Adam update, the dense head with its cross-entropy
 * (tfjs-layers' Dense.call and compile), the direct training step (LayersModel's train
 * function) and tensor reads on tfjs's own heap. They
 * reach into the backend's internals, so they are installed in one step, only on wasm,
 * and can be left out (CELLSTACK_ACCEL=0 or configure({ accel: false })).
 */

export interface AccelState {
  /** Whether the patches are in place now. */
  on: boolean;
  /** What is replaced: tf kernel names, 'Adam' (the heap optimiser update), 'Dense' and 'categoricalCrossentropy' (the head), 'trainStep' (the direct training step). */
  patches: string[];
  /** Why they are on or off. */
  reason: string;
}

let state: AccelState = { on: false, patches: [], reason: 'not installed: the wasm backend was not selected' };

/**
 * Install the patches when the wasm backend is active and the settings allow it, or take
 * them out (tfjs's own kernels back) when `settings().accel` is false. Idempotent.
 */
export function installAccel(): AccelState {
  const wanted = settings().accel;
  if (!wanted || tf.getBackend() !== 'wasm') {
    if (state.on) restoreWasmKernels();
    installHeapAdam(false);
    installDenseHead(false);
    installDirectSteps(false);
    state = { on: false, patches: [], reason: wanted ? `not installed: the ${tf.getBackend()} backend is active, only wasm is patched` : 'off (CELLSTACK_ACCEL=0 or configure({ accel: false }))' };
    return state;
  }
  if (state.on) return state;
  const patches = [
    ...(patchWasmMatMul() ? ['BatchMatMul', '_FusedMatMul'] : []),
    ...(patchWasmSlice() ? ['Slice'] : []),
    ...(patchWasmIdentity() ? ['Identity'] : []),
    ...(installHeapAdam(true) ? ['Adam'] : []),
    // After the matmul patch: the head multiplies through its heap module.
    ...(installDenseHead(true) ? ['Dense', 'categoricalCrossentropy'] : []),
    ...(installDirectSteps(true) ? ['trainStep'] : []),
  ];
  state = { on: true, patches, reason: 'wasm backend: cellstack kernels on tfjs’s heap' };
  return state;
}

/** The patches' state (recorded in BackendInfo). */
export const accelState = (): AccelState => state;

/** Whether tensors may be read straight off the wasm heap (patches on). */
export const heapReads = (): boolean => state.on && tf.getBackend() === 'wasm';
