import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { runtimeOf, type ModelIR } from '@cellstack/core';
import { addingHSTask, copyTask, addingTask, urCopyTask } from '@cellstack/tasks';
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
