/**
 * The docs' probe pictures (`cellstack probe` draws the same ones for any run or spec),
 * each before and after a short training run:
 *
 * - UR paper Figure 4: histogram of the UR-LSTM's forget-gate activations f, each unit's mean
 *   over time and a batch of 64 sequences, on the UR copy task (10 symbols, 30 blanks, cue on
 *   the last 10 steps); 400 Adam steps, lr 1e-2, batch 16.
 * - NRU paper Figure 6: the change |m_t − m_{t−1}| of every unit of the NRU's memory at every
 *   step of one copy-task sequence, for the paper's copy NRU (hidden 80, memory 64, 4 heads) on
 *   copy with lag 20 and 5 symbols (T = 30); 1500 Adam steps, lr 3e-3, batch 10, clip 1.
 *
 * Both are miniatures: the papers train for tens of thousands of steps at T = 100 and more,
 * with Adam at 1e-3. Seeded: a rerun gives the same numbers. On the 2-core development machine
 * (embedded wasm backend): 35 s CPU, 43 s wall (80 s with the cores shared). Anyone can rerun it:
 *
 *   nice -n 10 npx tsx --conditions=@cellstack/source tools/docs/probe.ts
 *
 * PROBE_UR_STEPS, PROBE_NRU_STEPS override the training steps; PROBE_NRU_LAG and
 * PROBE_NRU_SYMBOLS the NRU's copy task (the paper's: 100 and 10, far beyond this budget).
 *
 * Writes docs/probe/{ur-forget,nru-memory-change}-{before,after}.{svg,png,json} and
 * docs/probe/summary.json (settings, losses, what the pictures show in numbers, timings).
 */
import { promises as fs } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { createOptimizer, createRng, createRuntime, type CellLayerIR, type Runtime } from '@cellstack/core';
import { cells as urCells } from '@cellstack/cell-ur';
import { NRU } from '@cellstack/cell-nru';
import { copyTask, taskLoss, toTensors, urCopyTask, type Task } from '@cellstack/tasks';
import { memoryChange, probe, unitMeans, writeMemoryChange, writeSignalHistogram, type LayerSignal } from '@cellstack/analysis';
import { mean, taskIR } from '../src/experiment.js';

const OUT = new URL('../../docs/probe/', import.meta.url).pathname;

const UR = {
  task: { lag: 30, symbols: 10 },
  layer: { cell: 'URLSTM', options: { units: 64, preset: 'UR-' } } as CellLayerIR,
  steps: Number(process.env.PROBE_UR_STEPS ?? 400),
  batch: 16,
  learningRate: 1e-2,
  clipNorm: 1,
  seed: 1,
  probeBatch: 64,
};
const NRU_RUN = {
  task: { lag: Number(process.env.PROBE_NRU_LAG ?? 20), symbols: Number(process.env.PROBE_NRU_SYMBOLS ?? 5) },
  // The paper's copy-task NRU (hidden 80, memory 64, 4 heads; authors' defaults otherwise).
  layer: { cell: 'NRU', options: { hidden: 80, memory: 64, heads: 4 } } as CellLayerIR,
  steps: Number(process.env.PROBE_NRU_STEPS ?? 1500),
  batch: 10,
  learningRate: 3e-3,
  clipNorm: 1,
  seed: 1,
  probeBatch: 16,
};

type Run = typeof UR;

/** Train `model` on `task` for `run.steps` seeded batches; the losses. */
async function train(model: LayersModel, task: Task, run: Run, label: string): Promise<number[]> {
  model.compile({ optimizer: createOptimizer(model, { name: 'adam', learningRate: run.learningRate, clipNorm: run.clipNorm }), loss: taskLoss(task) });
  const rng = createRng(run.seed + 1000);
  const losses: number[] = [];
  for (let step = 0; step < run.steps; step++) {
    const { x, y } = toTensors(task.batch(run.batch, rng));
    losses.push((await model.trainOnBatch(x, y)) as number);
    tf.dispose([x, y]);
    if ((step + 1) % 50 === 0) console.log(`${label} step ${step + 1}: loss ${mean(losses.slice(-50)).toFixed(4)} (baseline ${task.baseline.toFixed(4)})`);
  }
  return losses;
}

/** The signal of every cell layer on a fixed validation batch (the same before and after training). */
function record(model: LayersModel, task: Task, run: Run, signal: string): LayerSignal[] {
  const { x, y } = toTensors(task.batch(run.probeBatch, createRng(run.seed + 2000), 'validation'));
  const r = probe(model, x, { signal });
  r.output.dispose();
  tf.dispose([x, y]);
  return r.signals;
}

const fmt = (v: number) => v.toFixed(3);

async function urForget(rt: Runtime) {
  const task = urCopyTask(UR.task);
  const model = rt.build(taskIR(task, [UR.layer], UR.seed));
  const t0 = performance.now();
  const before = record(model, task, UR, 'forget');
  const losses = await train(model, task, UR, 'UR-LSTM');
  const after = record(model, task, UR, 'forget');
  model.dispose();
  const seconds = (performance.now() - t0) / 1000;
  const what = `UR-LSTM (${(UR.layer.options as { units: number }).units} units) on ${task.description}`;
  const about = (state: string) => ({ state, task: task.description, steps: UR.steps, batch: UR.batch, probeBatch: UR.probeBatch, seed: UR.seed });
  await writeSignalHistogram(`${OUT}ur-forget-before`, before, ['Forget gate f before training', what], about('untrained'));
  await writeSignalHistogram(`${OUT}ur-forget-after`, after, [`Forget gate f after ${UR.steps} training steps`, what], about(`trained ${UR.steps} steps`));
  const stats = (s: LayerSignal[]) => {
    const m = unitMeans(s[0].values);
    return { mean: mean(m), min: Math.min(...m), max: Math.max(...m), above09: m.filter((v) => v > 0.9).length, below01: m.filter((v) => v < 0.1).length, units: m.length };
  };
  const summary = { ...UR, task: task.description, baseline: task.baseline, seconds, firstLoss: mean(losses.slice(0, 10)), finalLoss: mean(losses.slice(-10)), before: stats(before), after: stats(after) };
  console.log(`UR-LSTM forget gate, unit means: before ${fmt(summary.before.min)} … ${fmt(summary.before.max)} (mean ${fmt(summary.before.mean)}), after ${fmt(summary.after.min)} … ${fmt(summary.after.max)} (mean ${fmt(summary.after.mean)}); loss ${fmt(summary.firstLoss)} → ${fmt(summary.finalLoss)}; ${seconds.toFixed(0)} s`);
  return summary;
}

async function nruMemory(rt: Runtime) {
  const task = copyTask(NRU_RUN.task);
  const { symbols: S, lag } = NRU_RUN.task;
  const model = rt.build(taskIR(task, [NRU_RUN.layer], NRU_RUN.seed));
  const t0 = performance.now();
  const before = memoryChange(record(model, task, NRU_RUN as Run, 'm')[0], 0);
  const losses = await train(model, task, NRU_RUN as Run, 'NRU');
  const after = memoryChange(record(model, task, NRU_RUN as Run, 'm')[0], 0);
  model.dispose();
  const seconds = (performance.now() - t0) / 1000;
  // Copy layout (NRU/Arjovsky): steps 1..S data, S+1..S+lag−1 blanks, the marker at S+lag, then S outputs.
  const layout = `data at steps 1–${S}, marker at ${S + lag}, output at ${S + lag + 1}–${lag + 2 * S}`;
  const what = [`NRU (h 80, m 64, k 4), first sequence of ${task.description}`, layout];
  const about = (state: string) => ({ state, task: task.description, layout: { data: [1, S], marker: S + lag, output: [S + lag + 1, lag + 2 * S] }, steps: NRU_RUN.steps, batch: NRU_RUN.batch, seed: NRU_RUN.seed });
  await writeMemoryChange(`${OUT}nru-memory-change-before`, [before], ['Change of the NRU memory per step, untrained', ...what], about('untrained'));
  await writeMemoryChange(`${OUT}nru-memory-change-after`, [after], [`Change of the NRU memory per step after ${NRU_RUN.steps} training steps`, ...what], about(`trained ${NRU_RUN.steps} steps`));
  // Mean |Δm| per unit and step in each phase of the sequence.
  const phases = (c: typeof before) => {
    const at = (from: number, to: number) => mean(c.change.flatMap((row) => row.slice(from - 1, to)));
    return { data: at(1, S), blanks: at(S + 1, S + lag - 1), marker: at(S + lag, S + lag), output: at(S + lag + 1, lag + 2 * S) };
  };
  const summary = { ...NRU_RUN, task: task.description, baseline: task.baseline, seconds, firstLoss: mean(losses.slice(0, 10)), finalLoss: mean(losses.slice(-10)), before: phases(before), after: phases(after) };
  const show = (p: ReturnType<typeof phases>) => `data ${p.data.toPrecision(2)}, blanks ${p.blanks.toPrecision(2)}, marker ${p.marker.toPrecision(2)}, output ${p.output.toPrecision(2)}`;
  console.log(`NRU mean |Δm| per unit and step: before ${show(summary.before)}; after ${show(summary.after)}; loss ${fmt(summary.firstLoss)} → ${fmt(summary.finalLoss)}; ${seconds.toFixed(0)} s`);
  return summary;
}

const rt = (await createRuntime({ backend: 'auto', cells: urCells })).use(NRU);
console.log(`backend ${rt.backend.name} (${rt.backend.reason})`);
await fs.mkdir(OUT, { recursive: true });
const ur = await urForget(rt);
const nru = await nruMemory(rt);
await fs.writeFile(`${OUT}summary.json`, `${JSON.stringify({ backend: rt.backend.name, ur, nru }, null, 1)}\n`);
