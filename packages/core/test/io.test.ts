import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { loadModel, runtimeOf, saveTo } from '@cellstack/core';

const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' });
const build = (seed: number) => rt.build({ input: { shape: [3, 2] }, layers: [{ cell: 'GRU', options: { units: 3 } }, { type: 'dense', units: 1 }], seed });
const tmp = () => mkdtemp(path.join(tmpdir(), 'cellstack-io-'));

describe('saving and loading', () => {
  it('overwrites a saved model atomically and leaves no stale weights', async () => {
    const dir = await tmp();
    await build(1).save(saveTo(dir));
    const m2 = build(2);
    await m2.save(saveTo(dir));
    const files = (await readdir(dir)).sort();
    expect(files).toHaveLength(2);
    expect(files[0]).toBe('model.json');
    const loaded = await loadModel(dir);
    const x = tf.ones([1, 3, 2]);
    expect(Array.from((loaded.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from((m2.predict(x) as tf.Tensor).dataSync()));
  });

  it('names what is wrong with a bad model folder', async () => {
    const dir = await tmp();
    await expect(loadModel(dir)).rejects.toThrow(`${path.join(dir, 'model.json')}: no model here`);
    await writeFile(path.join(dir, 'model.json'), '{"modelTopology": ');
    await expect(loadModel(dir)).rejects.toThrow(/model.json: not valid JSON/);
    await writeFile(path.join(dir, 'model.json'), '{"format": "x"}');
    await expect(loadModel(dir)).rejects.toThrow("model.json: not a tfjs layers model: no 'modelTopology'");

    await build(1).save(saveTo(dir));
    const json = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8'));
    const weights = path.join(dir, json.weightsManifest[0].paths[0]);
    const bytes = await readFile(weights);
    await writeFile(weights, new Uint8Array(8));
    await expect(loadModel(dir)).rejects.toThrow(/weights hold 8 bytes but the manifest needs \d+/);
    bytes[5] ^= 0x01; // one flipped bit: the size is right, the content hash in the file name is not
    await writeFile(weights, bytes);
    await expect(loadModel(dir)).rejects.toThrow(`${weights}: the weights are damaged: their content hash does not match the one in the file name`);
    bytes[5] ^= 0x01;
    await writeFile(weights, bytes);
    await expect(loadModel(dir)).resolves.toBeDefined();

    const text = JSON.stringify(json).replace('"cellstack.GRU"', '"cellstack.Missing"');
    await writeFile(path.join(dir, 'model.json'), text);
    await expect(loadModel(dir)).rejects.toThrow("the model uses cell Missing, not registered in this process (import the third-party package that defines it first (the spec's `use` line names it;");
    // The hint names the right package: URLSTM is in cell-ur (not "cell-urlstm"), baselines are core's own.
    await writeFile(path.join(dir, 'model.json'), JSON.stringify(json).replace('"cellstack.GRU"', '"cellstack.URLSTM"'));
    await expect(loadModel(dir)).rejects.toThrow("(import its plugin package first: import '@cellstack/cell-ur')");
    await writeFile(path.join(dir, 'model.json'), JSON.stringify(json).replace('"cellstack.GRU"', '"cellstack.NRU"'));
    await expect(loadModel(dir)).rejects.toThrow("import '@cellstack/cell-nru'");
  });

  it('never instantiates classes that are not registered (a model file brings no code)', async () => {
    const dir = await tmp();
    await build(1).save(saveTo(dir));
    const text = await readFile(path.join(dir, 'model.json'), 'utf8');
    expect(text).toContain('"class_name":"Dense"');
    await writeFile(path.join(dir, 'model.json'), text.replace('"class_name":"Dense"', '"class_name":"EvilLayer"'));
    await expect(loadModel(dir)).rejects.toThrow(/could not load the model: .*EvilLayer/);
  });
});
