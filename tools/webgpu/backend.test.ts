/** Selecting webgpu: the adapter named in the reason, auto's order, CELLSTACK_BACKEND, the CLI's run.json. */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { describeAdapter, selectBackend } from '@cellstack/core';

const bin = fileURLToPath(new URL('../../packages/cli/bin/cellstack.js', import.meta.url));

describe('webgpu backend selection', () => {
  afterAll(() => selectBackend('webgpu'));

  it("'webgpu' names its adapter (vendor, device) in the reason", async () => {
    const info = await selectBackend('webgpu');
    expect(tf.getBackend()).toBe('webgpu');
    expect(info.name).toBe('webgpu');
    const a = info.adapter!;
    expect(a.vendor.length + a.device.length).toBeGreaterThan(0);
    expect(typeof a.fallback).toBe('boolean');
    expect(info.reason).toBe(`webgpu (asked for) on ${describeAdapter(a)}`);
    expect(info.reason).toContain(a.device);
  });

  it('auto takes a hardware adapter, never a software one unasked, and says why', async () => {
    const { adapter } = await selectBackend('webgpu');
    const auto = await selectBackend('auto');
    if (adapter!.fallback) {
      // CI: lavapipe only, no tfjs-node installed.
      expect(auto.name).toBe('wasm');
      expect(auto.adapter).toBeUndefined();
      expect(auto.reason).toBe(`embedded default (wasm; no tfjs-node binding installed; WebGPU: only a software WebGPU adapter (${describeAdapter(adapter!)}), used only when asked for: --backend webgpu)`);
    } else {
      expect(auto.name).toBe('webgpu');
      expect(auto.reason).toBe(`WebGPU on ${describeAdapter(adapter!)} (no tfjs-node-gpu)`);
    }
  });

  it('int32 and bool cast to float32 get a float32 buffer, so a transpose of them compiles (tfjs-backend-webgpu 4.22 relabels them)', async () => {
    await selectBackend('webgpu');
    const before = tf.memory().numTensors;
    const [oneHot, flags, rounded] = tf.tidy(() => [
      tf.cast(tf.oneHot(tf.tensor2d([[0, 2, 1], [1, 1, 0]], [2, 3], 'int32'), 3), 'float32'),
      tf.cast(tf.tensor3d([true, false, false, true], [1, 2, 2], 'bool'), 'float32'),
      tf.cast(tf.tensor1d([2.7, -1.2]), 'int32'),
    ]);
    expect([oneHot.dtype, flags.dtype, rounded.dtype]).toEqual(['float32', 'float32', 'int32']);
    const [moved, movedFlags] = [tf.transpose(oneHot, [1, 0, 2]), tf.transpose(flags, [1, 0, 2])];
    expect(Array.from(await moved.data())).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 0]);
    expect(Array.from(await movedFlags.data())).toEqual([1, 0, 0, 1]);
    expect(Array.from(await rounded.data())).toEqual([2, -1]);
    tf.dispose([oneHot, flags, rounded, moved, movedFlags]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('CELLSTACK_BACKEND=webgpu overrides auto', async () => {
    process.env.CELLSTACK_BACKEND = 'webgpu';
    try {
      const info = await selectBackend('auto');
      expect(info.name).toBe('webgpu');
      expect(info.reason).toMatch(/^webgpu \(asked for\) on .+ \(from CELLSTACK_BACKEND\)$/);
    } finally {
      delete process.env.CELLSTACK_BACKEND;
    }
  });

  it('`cellstack train --backend webgpu` trains and records the adapter in run.json', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cellstack-webgpu-cli-'));
    try {
      const spec = path.join(dir, 'tiny.rnn');
      await writeFile(spec, 'input [null, 2]\nSTAR(4) -> last -> dense(1)\ntrain {\n  task: adding(length: 6)\n  batch: 4\n  seed: 1\n}\n');
      const { stderr } = await promisify(execFile)(process.execPath, [bin, 'train', spec, '--backend', 'webgpu', '--steps', '3', '--val-size', '8', '--out', path.join(dir, 'run'), '--progress', 'none']);
      const run = JSON.parse(await readFile(path.join(dir, 'run', 'run.json'), 'utf8'));
      expect(run.status).toBe('completed');
      expect(run.steps).toBe(3);
      expect(run.backend.name).toBe('webgpu');
      expect(run.kernels.layers).toEqual([expect.objectContaining({ cell: 'STAR', path: 'traced (webgpu)' })]);
      expect(run.backend.adapter.device).toBe((await selectBackend('webgpu')).adapter!.device);
      expect(stderr).toContain(`backend: webgpu — webgpu (asked for) on ${describeAdapter(run.backend.adapter)}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
