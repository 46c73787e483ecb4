import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadModel, runtimeOf, saveTo, type ModelIR } from '@cellstack/core';
import { addingHSTask, copyTask, addingTask, taskLoss, urCopyTask, type Task } from '@cellstack/tasks';
import { describe, expect, it } from 'vitest';
import { checkFit, parseTaskFlag, RunFolder } from '@cellstack/cli';
import { paddingNote } from '../src/fit.js';
import { batchRng, compileForTask, trainStep, validate, type TrainSettings } from '../src/trainer.js';
import { tmp } from './helpers.js';

const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' });
const settings: TrainSettings = { steps: 10, batch: 4, optimizer: 'adam', learningRate: 1e-2, clipNorm: 1, seed: 5, checkpointEvery: 5, valSize: 8 };
const copyIR = (head: ModelIR['layers']): ModelIR => ({ input: { shape: [null, 10] }, layers: [{ cell: 'GRU', options: { units: 4 } }, ...head], seed: 1 });

describe('--task parsing', () => {
  it('reads names, named and positional options, strings, booleans', () => {
    expect(parseTaskFlag('copy')).toEqual({ name: 'copy', options: {} });
    expect(parseTaskFlag('copyUR(lag: 20, symbols: 5)')).toEqual({ name: 'copy-ur', options: { lag: 20, symbols: 5 } });
    expect(parseTaskFlag('copy(30)')).toEqual({ name: 'copy', options: { lag: 30 } });
    expect(parseTaskFlag('pmnist(permutation: bitreversal, size=14)')).toEqual({ name: 'pmnist', options: { permutation: 'bitreversal', size: 14 } });
    expect(parseTaskFlag("char-lm(file: 'a b.txt')")).toEqual({ name: 'char-lm', options: { file: 'a b.txt' } });
    expect(parseTaskFlag('char_lm("x.txt")')).toEqual({ name: 'char-lm', options: { file: 'x.txt' } });
    expect(() => parseTaskFlag('copy(1, 2, 3)')).toThrow(/--task: copy takes its options by name/);
  });
});

describe('padded tasks', () => {
  const padded = addingHSTask({ length: 10, lengths: 'drawn' });
  const ir = (first: ModelIR['layers']): ModelIR => ({ input: { shape: [11, 2] }, layers: [...first, { cell: 'GRU', options: { units: 4 } }, { type: 'last' }, { type: 'dense', units: 1 }] });
  it('notes a model that reads no mask, and is quiet for a masked one or an unpadded task', () => {
    expect(paddingNote(ir([]), padded)).toBe('note: task adding-hs pads its sequences, but the model has no mask: padded steps enter the recurrence as data (start the pipeline with masking(value: 0))');
    expect(paddingNote(ir([{ type: 'masking' }]), padded)).toBeUndefined();
    expect(paddingNote(ir([]), addingHSTask({ length: 10 }))).toBeUndefined();
  });
  it('trains a masked model on padded batches through the trainer, with a finite, falling loss', async () => {
    const model = rt.build({ ...ir([{ type: 'masking' }]), seed: 2 });
    compileForTask(model, padded, settings, false);
    const losses: number[] = [];
    for (let step = 0; step < 10; step++) losses.push((await trainStep(model, padded, settings, step)).loss);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(Math.min(...losses.slice(5))).toBeLessThan(losses[0]);
    model.dispose();
  });
});

describe('model ↔ task fit', () => {
  it('accepts a per-step softmax or logits head and rejects wrong heads with a fix', () => {
    const task = copyTask({ lag: 3 });
    const ok = rt.build(copyIR([{ type: 'dense', units: 9, activation: 'softmax' }]));
    expect(checkFit(ok, copyIR([{ type: 'dense', units: 9, activation: 'softmax' }]), task, '')).toEqual({ fromLogits: false });
    const logits = rt.build(copyIR([{ type: 'dense', units: 9 }]));
    expect(checkFit(logits, copyIR([{ type: 'dense', units: 9 }]), task, '')).toEqual({ fromLogits: true });
    const relu = copyIR([{ type: 'dense', units: 9, activation: 'relu' }]);
    expect(() => checkFit(rt.build(relu), relu, task, '')).toThrow(/must be softmax \(probabilities\) or linear \(logits\), not relu/);
    const seq: ModelIR = { ...copyIR([{ type: 'dense', units: 1 }]), input: { shape: [null, 2] } };
    expect(() => checkFit(rt.build(seq), seq, addingTask({ length: 5 }), '')).toThrow(/one output per sequence but the model outputs \[T, 1\] per step/);
    const fixed: ModelIR = { ...copyIR([{ type: 'dense', units: 9 }]), input: { shape: [7, 10] } };
    expect(() => checkFit(rt.build(fixed), fixed, task, '')).toThrow(/its input length is 7, the task's sequences are 23/);
  });
});

describe('training step', () => {
  it('uses the masked UR loss, reads only scalars, and leaks no tensors', async () => {
    const task = urCopyTask({ lag: 3, symbols: 2 });
    const ir = copyIR([{ type: 'dense', units: 9 }]);
    const model = rt.build(ir);
    compileForTask(model, task, settings, true);
    const first = await trainStep(model, task, settings, 1);
    expect(Object.keys(first.metrics)).toEqual(['accuracy']);
    expect(first.loss).toBeGreaterThan(1.5); // ≈ ln 9 at the start: the loss covers the 2 scored steps only
    expect(first.loss).toBeLessThan(3);
    const before = tf.memory().numTensors;
    for (let s = 2; s <= 20; s++) await trainStep(model, task, settings, s);
    await validate(model, task, settings, true);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
  it('the batch of a step depends only on (seed, step): resumed runs see the same data', () => {
    const task = copyTask({ lag: 3 });
    expect(task.batch(4, batchRng(5, 7)).x).toEqual(task.batch(4, batchRng(5, 7)).x);
    expect(task.batch(4, batchRng(5, 7)).x).not.toEqual(task.batch(4, batchRng(5, 8)).x);
    expect(task.batch(4, batchRng(5, 7)).x).not.toEqual(task.batch(4, batchRng(6, 7)).x);
  });
});

describe('a softmax head trains on its logits', () => {
  // Two examples of one step: the first's true class has logit −20 against 0, 0 (p ≈ 1e-9).
  const x = [1, 0.5, -1, 2];
  const y = [1, 0, 0, 0, 0, 1];
  const fixed: Task = {
    name: 'fixed', description: 'one fixed batch', options: {}, inputShape: [1, 2], outputs: 3, perStep: true,
    loss: 'categoricalCrossentropy', baseline: Math.log(3), metrics: ['accuracy'],
    batch: () => ({ x: Float32Array.from(x), xShape: [2, 1, 2], y: Float32Array.from(y), yShape: [2, 1, 3] }),
  };
  const sgd: TrainSettings = { ...settings, batch: 2, valSize: 2, optimizer: 'sgd', learningRate: 1, clipNorm: undefined };
  const headModel = (bias: number[]) => {
    const model = rt.build({ input: { shape: [1, 2] }, layers: [{ type: 'dense', units: 3, activation: 'softmax' }], seed: 1 });
    const weights = [tf.zeros([2, 3]), tf.tensor1d(bias)];
    model.layers[model.layers.length - 1].setWeights(weights);
    tf.dispose(weights);
    compileForTask(model, fixed, sgd, false);
    return model;
  };
  // With a zero kernel both examples' logits are the bias: softmax in float64.
  const softmax = (z: number[]) => z.map((v) => Math.exp(v) / z.reduce((s, w) => s + Math.exp(w), 0));

  it('the gradient at p(true) < 1e-7 is the log-softmax one (not 0) and matches finite differences of the loss', async () => {
    const bias = [-20, 0, 0];
    const model = headModel(bias);
    const p = (model.predict(tf.tensor3d(x, [2, 1, 2])) as tf.Tensor).dataSync();
    expect(p[0]).toBeLessThan(1e-7);
    await trainStep(model, fixed, sgd, 0); // SGD at rate 1: the update is −gradient
    const [kernel, b] = model.layers[model.layers.length - 1].getWeights().map((w) => Array.from(w.dataSync()));
    // d(−mean log p(true))/dz = (p − y)/2 per example.
    const grad = [0, 1].map((i) => softmax(bias).map((v, c) => (v - y[3 * i + c]) / 2));
    for (let c = 0; c < 3; c++) {
      expect(-b[c] + bias[c]).toBeCloseTo(grad[0][c] + grad[1][c], 5);
      for (let f = 0; f < 2; f++) expect(-kernel[3 * f + c]).toBeCloseTo(x[f] * grad[0][c] + x[2 + f] * grad[1][c], 5);
    }
    expect(-b[0] + bias[0]).toBeLessThan(-0.4); // the clipped loss gave ≈ 1e-9 here
    // Central differences of the loss the trainer reports (validation on the same batch).
    const h = 1e-2;
    const lossAt = async (b0: number) => { const m = headModel([b0, 0, 0]); const v = (await validate(m, fixed, sgd, false)).loss; m.dispose(); return v; };
    expect((await lossAt(-20 + h)) - (await lossAt(-20 - h))).toBeCloseTo(2 * h * (-b[0] + bias[0]), 4);
    expect(await lossAt(-20)).toBeCloseTo((20 + Math.log(Math.exp(-20) + 2) + Math.log(Math.exp(-20) + 2)) / 2, 4);
    model.dispose();
  });

  it('loss values equal the probability loss where p is not clipped; save → load keeps the softmax; no tensors leak', async () => {
    const task = urCopyTask({ lag: 3, symbols: 2 });
    const model = rt.build(copyIR([{ type: 'dense', units: 9, activation: 'softmax' }]));
    compileForTask(model, task, settings, false);
    const old = taskLoss(task);
    for (let step = 1; step <= 3; step++) {
      const b = task.batch(settings.batch, batchRng(settings.seed, step));
      const before = tf.tidy(() => old(tf.tensor(b.y, b.yShape), model.predict(tf.tensor3d(b.x, b.xShape)) as tf.Tensor).dataSync()[0]);
      expect((await trainStep(model, task, settings, step)).loss).toBeCloseTo(before, 5);
    }
    const numTensors = tf.memory().numTensors;
    for (let step = 4; step <= 10; step++) await trainStep(model, task, settings, step);
    await validate(model, task, settings, false);
    expect(tf.memory().numTensors).toBe(numTensors);
    const dir = tmp('logits-head');
    await model.save(saveTo(dir));
    const loaded = await loadModel(dir);
    const b = task.batch(4, batchRng(9, 9));
    const [a, c] = [model, loaded].map((m) => tf.tidy(() => Array.from((m.predict(tf.tensor3d(b.x, b.xShape)) as tf.Tensor).dataSync())));
    expect(c).toEqual(a);
    expect(a.slice(0, 9).reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5); // probabilities, not logits
    model.dispose();
    loaded.dispose();
  });
});

describe('run folder', () => {
  it('restore cuts metrics.jsonl back to the checkpoint, dropping a torn last line', async () => {
    const folder = new RunFolder(join(tmp(), 'run'));
    await folder.create('LSTM(2)\n');
    const model = rt.build(copyIR([{ type: 'dense', units: 9 }]));
    for (let step = 1; step <= 4; step++) folder.record({ step, loss: 1 / step, time: step });
    await folder.checkpoint(model, 3, 3);
    await folder.flush();
    appendFileSync(folder.file('metrics.jsonl'), '{"step":5,"lo');
    const { info, lines, model: restored } = await folder.restore();
    expect(info.step).toBe(3);
    expect(lines.map((l) => l.step)).toEqual([1, 2, 3]);
    expect(readFileSync(folder.file('metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(3);
    const x = tf.ones([1, 5, 10]);
    const [a, b] = [model.predict(x) as tf.Tensor, restored.predict(x) as tf.Tensor];
    expect(Array.from(await b.data())).toEqual(Array.from(await a.data()));
    tf.dispose([x, a, b]);
    model.dispose();
    restored.dispose();
  });
});
