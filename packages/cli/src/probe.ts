import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { createRng, hashSeed, loadModel, type BackendChoice } from '@cellstack/core';
import { toTensors, type Task } from '@cellstack/tasks';
import { memoryChange, probe, unitMeans, writeMemoryChange, writeSignalHistogram } from '@cellstack/analysis';
import { CliError, EXIT } from './errors.js';
import { RunFolder } from './run-folder.js';
import { cliRuntime } from './runtime.js';
import { compileSpec, DEFAULT_SEED, loadSpecPlugins } from './spec.js';
import { makeTask, parseTaskFlag, showTask, type TaskRef } from './task-ref.js';
import type { RunRecord } from './train.js';

export interface ProbeFlags {
  signal: string;
  task?: string;
  batch: number;
  seed?: number;
  out?: string;
  backend?: BackendChoice;
  allow?: string[];
}

const out = (s: string) => process.stdout.write(`${s}\n`);

/** The model to probe: a run folder's final (trained) model, or a spec's freshly initialised one. */
async function modelOf(target: string, flags: ProbeFlags): Promise<{ model: LayersModel; task: Task; state: string }> {
  const { runtime } = await cliRuntime(flags.backend ?? 'auto');
  const flagTask = flags.task ? parseTaskFlag(flags.task) : undefined;
  if (existsSync(target) && statSync(target).isDirectory()) {
    const folder = new RunFolder(target);
    const record = await folder.readJson<RunRecord>('run.json');
    if (!existsSync(folder.file('model'))) throw new CliError(`${target}: the run has no final model (model/) yet: finish or resume its training first`, EXIT.input);
    const ref: TaskRef = flagTask ?? { name: record.task.name, options: record.task.options };
    // A third-party cell's layer class exists once its (allowed) package is imported.
    await loadSpecPlugins(folder.file('spec.rnn'), runtime, flags.allow);
    return { model: await loadModel(folder.file('model')), task: makeTask(ref), state: `trained ${record.steps} steps` };
  }
  const spec = await compileSpec(target, { runtime, task: flagTask, requireTask: true, seed: flags.seed, allow: flags.allow });
  return { model: spec.model!, task: spec.task!, state: 'untrained' };
}

/**
 * `cellstack probe`: record one signal of every cell layer (e.g. the forget gate) on a
 * batch of the task and write the UR paper's Figure 4 histogram of its per-unit means.
 * When the signal is a recurrent state of the cell, a memory (NRU's `m`, the LSTM's `c`),
 * it also writes the NRU paper's Figure 6: |s_t − s_{t−1}| per unit × step for the
 * batch's first sequence.
 */
export async function probeCommand(target: string, flags: ProbeFlags): Promise<number> {
  const { model, task, state } = await modelOf(target, flags);
  const seed = flags.seed ?? DEFAULT_SEED;
  const { x, y } = toTensors(task.batch(flags.batch, createRng(hashSeed(seed, 'probe')), 'validation'));
  let signals;
  try {
    const r = probe(model, x, { signal: flags.signal });
    r.output.dispose();
    signals = r.signals;
  } catch (e) {
    throw new CliError(`${target}: ${(e as Error).message}`, EXIT.input);
  } finally {
    tf.dispose([x, y]);
    model.dispose();
  }
  const name = path.basename(target, '.rnn');
  const dir = flags.out ?? path.join('runs', `probe-${name}`);
  const taskName = showTask({ name: task.name, options: task.options });
  const about = { target, state, task: taskName, batch: flags.batch, seed };
  const files = await writeSignalHistogram(path.join(dir, `probe-${flags.signal}`), signals, `${flags.signal} of ${name} (${state}) on ${taskName}`, about);
  for (const s of signals) {
    const m = unitMeans(s.values);
    out(`${s.layer} (${s.cell}): ${flags.signal} mean ${(m.reduce((a, b) => a + b, 0) / m.length).toFixed(3)}, units ${Math.min(...m).toFixed(3)} … ${Math.max(...m).toFixed(3)}`);
  }
  out(`wrote ${files.svg}, ${files.png}, ${files.json}`);
  // A memory (a state signal): how much each unit changes at each step, for one sequence.
  const memories = signals.filter((s) => s.state);
  if (memories.length) {
    const changes = memories.map((s) => memoryChange(s, 0));
    const image = await writeMemoryChange(path.join(dir, `probe-${flags.signal}-change`), changes, [`change of ${flags.signal} per step, ${name} (${state})`, `first sequence of ${taskName}`], about);
    for (const c of changes) {
      const steps = c.change[0]?.length ?? 0;
      const perStep = Array.from({ length: steps }, (_, t) => c.change.reduce((a, row) => a + row[t], 0));
      const top = perStep.map((v, t) => ({ v, t: c.firstStep + t })).sort((a, b) => b.v - a.v).slice(0, 5).map((e) => e.t).sort((a, b) => a - b);
      out(`${c.layer} (${c.cell}): |Δ${flags.signal}| summed over units, total ${perStep.reduce((a, b) => a + b, 0).toPrecision(3)}, largest at steps ${top.join(', ')}`);
    }
    out(`wrote ${image.svg}, ${image.png}, ${image.json}`);
  }
  return EXIT.ok;
}
