import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { layerPaths, loadModel, type CellPlugin } from '@cellstack/core';
import { describe, expect, it } from 'vitest';
import { cli, ROOT, spec, TINY, tmp } from './helpers.js';

// The example third-party plugin (examples/plugin-mgu): MGU in one TS file, no C.
const PLUGIN = resolve(ROOT, 'examples/plugin-mgu/src/index.ts');

const MGU_SPEC = TINY.replace('LSTM(4)', 'MGU(5)');

describe('a third-party plugin through CELLSTACK_PLUGINS', () => {
  it('trains traced from a .rnn file, resumes, probes, and its saved model loads in a fresh process', async () => {
    process.env.CELLSTACK_PLUGINS = PLUGIN;
    try {
      const dir = tmp();
      const file = spec(dir, 'mgu.rnn', MGU_SPEC);
      const out = join(dir, 'run');
      const r = await cli(['train', file, '--out', out, '--val-size', '8', '--progress', 'none']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/^layer \w+ \(MGU\): traced$/m);
      const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
      expect(run).toMatchObject({ status: 'completed', steps: 6, kernels: { fused: true, layers: [{ cell: 'MGU', path: 'traced' }] } });

      const resumed = await cli(['train', '--resume', out, '--steps', '9', '--progress', 'none']);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'))).toMatchObject({ status: 'completed', steps: 9 });

      const probe = await cli(['probe', out, '--signal', 'forget', '--batch', '4', '--out', join(dir, 'probe')]);
      expect(probe.code, probe.stderr).toBe(0);
      expect(probe.stdout).toMatch(/\(MGU\): forget mean 0\.\d{3}, units/);

      const cells = await cli(['cells', 'mgu']);
      expect(cells.code, cells.stderr).toBe(0);
      expect(cells.stdout).toMatch(/^MGU\(units\) — Minimal gated unit/m);
      expect(cells.stdout).toMatch(/^ {2}path \(defaults, cpu\): traced$/m);

      // This process imports the plugin the way a user's script would, then loads the saved model.
      const { MGU } = (await import(PLUGIN)) as { MGU: CellPlugin };
      expect(MGU.name).toBe('MGU');
      const model = await loadModel(join(out, 'model'));
      const x = tf.oneHot(tf.tensor2d([[1, 0, 0, 9, 9, 9]], [1, 6], 'int32'), 10);
      const y = model.predict(x) as tf.Tensor;
      expect(y.shape).toEqual([1, 6, 9]);
      expect(layerPaths(model)).toEqual([expect.objectContaining({ cell: 'MGU', path: 'traced' })]);
      tf.dispose([x, y]);
      model.dispose();
    } finally {
      delete process.env.CELLSTACK_PLUGINS;
    }
  }, 300_000); // five CLI processes

  it('a plugin that cannot be loaded is reported by `cellstack cells`', async () => {
    process.env.CELLSTACK_PLUGINS = './no-such-plugin.js';
    try {
      const r = await cli(['cells', 'lstm']);
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/^not loaded: \.\/no-such-plugin\.js \(.+\)$/m);
    } finally {
      delete process.env.CELLSTACK_PLUGINS;
    }
  });
});
