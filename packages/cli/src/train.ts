import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import type { BackendChoice, GroupedOptimizer, ModelIR, OptimizerName } from '@cellstack/core';
import type { Task } from '@cellstack/tasks';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { writeLossChart } from './charts.js';
import { CliError, EXIT, usage } from './errors.js';
import { checkFit } from './fit.js';
import { createProgress, duration, type ProgressMode, type Tick } from './progress.js';
import { defaultRunDir, RunFolder, type MetricsLine } from './run-folder.js';
import { cliRuntime, kernelPath } from './runtime.js';
import { compileSpec, readUserFile } from './spec.js';
import { makeTask, parseTaskFlag, showTask, type TaskRef } from './task-ref.js';
import { compileForTask, trainStep, validate, type TrainSettings } from './trainer.js';
import { versions } from './version.js';

export interface TrainFlags {
  task?: string;
  steps?: number;
  epochs?: number;
  batch?: number;
  lr?: number;
  optimizer?: string;
  clip?: number;
  seed?: number;
  backend: BackendChoice;
  out?: string;
  resume?: string;
  checkpointEvery?: number;
  valSize: number;
  progress: ProgressMode;
  allow?: string[];
  /** In-process callers (compare --jobs 1): progress ticks instead of a display, and no summary on stdout. */
  onTick?: (t: Tick) => void;
  quiet?: boolean;
}

export const DEFAULTS = { steps: 1000, batch: 32, optimizer: 'adam' as OptimizerName, learningRate: 1e-3, clipNorm: 1 };

/** What run.json records (and `--resume` reads back). */
export interface RunRecord {
  versions: Record<string, string>;
  command: string[];
  specFile: string;
  backend: { requested: BackendChoice; name: string; reason: string };
  /** Fused kernels or the step loop, the native addon's instruction set when their products ran on it, and their threads (1 otherwise). */
  kernels: { fused: boolean; native: string | null; threads?: number };
  task: TaskRef & { description: string; baseline: number };
  settings: TrainSettings;
  fromLogits: boolean;
  params: number;
  status: 'running' | 'completed' | 'interrupted' | 'diverged';
  startedAt: string;
  finishedAt?: string;
  steps: number;
  seconds: number;
  stepsPerSecond?: number;
  finalLoss?: number;
  validation?: { examples: number; loss: number; metrics: Record<string, number> };
}


/** Steps from `epochs` for a task with a fixed training set. */
function stepsOf(epochs: number, task: Task, batch: number): number {
  if (!task.trainSize) throw usage(`epochs: task ${task.name} generates fresh data every step; give steps instead`);
  return Math.ceil((epochs * task.trainSize) / batch);
}

/** `cellstack train`: train a spec on its task, writing a run folder; returns the exit code. */
export async function train(specFile: string | undefined, flags: TrainFlags): Promise<number> {
  const log = (line: string) => flags.quiet || process.stderr.write(`${line}\n`);
  if (!specFile && !flags.resume) throw usage('train needs a spec file (cellstack train model.rnn) or --resume <run folder>');
  const resuming = flags.resume !== undefined && existsSync(path.join(flags.resume, 'checkpoint.json'));
  const folder = new RunFolder(flags.resume ?? flags.out ?? defaultRunDir(specFile!));
  if (!flags.resume && existsSync(folder.file('run.json'))) {
    throw usage(`'${folder.dir}' already holds a run; continue it with --resume ${folder.dir}, or choose another --out`);
  }
  const previous = flags.resume ? await folder.readJson<RunRecord>('run.json') : undefined;
  if (!previous) await readUserFile(specFile!); // fail fast, before the backend starts
  const backend = previous && flags.backend === 'auto' ? previous.backend.requested : flags.backend;
  const { runtime } = await cliRuntime(backend);
  log(`backend: ${runtime.backend.name} — ${runtime.backend.reason}`);
  const kernels = kernelPath();
  log(`kernels: ${kernels.text}`);

  const file = previous ? folder.file('spec.rnn') : specFile!;
  const taskRef = flags.task ? parseTaskFlag(flags.task) : previous?.task ? { name: previous.task.name, options: previous.task.options } : undefined;
  let model: LayersModel;
  let task: Task;
  let fromLogits: boolean;
  let settings: TrainSettings;
  let start = 0;
  let timeBase = 0;
  let lines: MetricsLine[] = [];
  let slots: tf.NamedTensorMap | undefined;

  if (previous) {
    task = makeTask(taskRef!);
    settings = { ...previous.settings, ...(flags.steps ? { steps: flags.steps } : {}) };
    if (resuming) {
      const restored = await folder.restore();
      model = restored.model;
      start = restored.info.step;
      timeBase = restored.info.time;
      lines = restored.lines;
      const ir = (model.getUserDefinedMetadata() as { cellstack: { ir: ModelIR } }).cellstack.ir;
      fromLogits = checkFit(model, ir, task, `${folder.dir}: `).fromLogits;
      slots = restored.optimizerSlots;
      log(`resuming ${folder.dir} at step ${start}/${settings.steps}${slots ? '' : ' (no optimizer state saved: it starts afresh)'}`);
    } else {
      const spec = await compileSpec(file, { runtime, task: taskRef, seed: settings.seed, allow: flags.allow });
      ({ fromLogits } = spec);
      model = spec.model!;
      await folder.create(spec.source); // empties metrics.jsonl: the run starts over
      log(`no checkpoint in ${folder.dir} yet: starting it again from step 0`);
    }
  } else {
    const spec = await compileSpec(file, { runtime, task: taskRef, requireTask: true, seed: flags.seed, allow: flags.allow });
    ({ fromLogits } = spec);
    task = spec.task!;
    model = spec.model!;
    const t = spec.training;
    const batch = flags.batch ?? t.batch ?? DEFAULTS.batch;
    const epochs = flags.epochs ?? (flags.steps === undefined ? t.epochs : undefined);
    settings = {
      steps: flags.steps ?? (epochs !== undefined ? stepsOf(epochs, task, batch) : (t.steps ?? DEFAULTS.steps)),
      batch,
      optimizer: (flags.optimizer ?? t.optimizer?.name ?? DEFAULTS.optimizer) as OptimizerName,
      learningRate: flags.lr ?? t.optimizer?.learningRate ?? DEFAULTS.learningRate,
      clipNorm: flags.clip ?? t.clipNorm ?? DEFAULTS.clipNorm,
      seed: spec.seed,
      checkpointEvery: 0,
      valSize: flags.valSize,
    };
    settings.checkpointEvery = flags.checkpointEvery ?? Math.max(10, Math.round(settings.steps / 10));
    await folder.create(spec.source);
  }
  if (flags.checkpointEvery) settings.checkpointEvery = flags.checkpointEvery;
  if (settings.steps <= start) throw usage(`the run is already at step ${start}; pass --steps N (N > ${start}) to train further`);

  compileForTask(model, task, settings, fromLogits);
  // Each step's global gradient norm (before clipping) goes into metrics.jsonl as gradNorm.
  const optimizer = model.optimizer as GroupedOptimizer;
  optimizer.trackNorm = true;
  if (slots) await model.optimizer.setWeights(Object.entries(slots).map(([name, tensor]) => ({ name, tensor })));
  // Canonical name, defaults filled, data files absolute: run.json reproduces the run from anywhere.
  const options = typeof task.options.file === 'string' ? { ...task.options, file: path.resolve(task.options.file) } : task.options;
  const ref = { name: task.name, options };
  const record: RunRecord = {
    versions: versions(),
    command: process.argv.slice(2),
    specFile: previous?.specFile ?? path.resolve(file),
    backend: { requested: backend, name: runtime.backend.name, reason: runtime.backend.reason },
    kernels: { fused: kernels.fused, native: kernels.native, threads: kernels.threads },
    task: { ...ref, description: task.description, baseline: task.baseline },
    settings,
    fromLogits,
    params: model.countParams(),
    status: 'running',
    startedAt: previous?.startedAt ?? new Date().toISOString(),
    steps: start,
    seconds: timeBase,
  };
  await folder.writeJson('run.json', record);
  log(`task ${showTask(ref)}: ${task.description}; memoryless baseline ${task.baseline.toFixed(4)}`);
  log(`model: ${record.params} parameters; ${settings.steps} steps of batch ${settings.batch}, ${settings.optimizer} lr ${settings.learningRate}, clip ${settings.clipNorm ?? 'none'}, seed ${settings.seed}`);
  log(`run folder: ${folder.dir}`);

  // Ctrl-C / SIGTERM: finish the current step, save a checkpoint, exit 130. A second one
  // (a second later: a terminal and a forwarding parent may deliver the same Ctrl-C twice) exits at once.
  let stop: string | undefined;
  let stopAt = 0;
  const onSignal = (sig: string) => {
    if (stop && Date.now() - stopAt > 1000) process.exit(EXIT.interrupted);
    if (!stop) log(`\n${sig}: stopping after this step (again to quit without saving)`);
    stop ??= sig;
    stopAt ||= Date.now();
  };
  const sigint = () => onSignal('SIGINT');
  const sigterm = () => onSignal('SIGTERM');
  process.on('SIGINT', sigint);
  process.on('SIGTERM', sigterm);

  const progress = createProgress(flags.onTick ? 'none' : flags.progress);
  const t0 = performance.now();
  const seconds = () => timeBase + (performance.now() - t0) / 1000;
  let step = start;
  let status: RunRecord['status'] = 'completed';
  try {
    while (step < settings.steps) {
      step++;
      const r = await trainStep(model, task, settings, step);
      if (!Number.isFinite(r.loss)) {
        status = 'diverged';
        break;
      }
      const line: MetricsLine = { step, loss: r.loss, time: Number(seconds().toFixed(3)), ...r.metrics, ...(optimizer.lastGradNorm === undefined ? {} : { gradNorm: optimizer.lastGradNorm }) };
      lines.push(line);
      folder.record(line);
      const metricName = Object.keys(r.metrics)[0];
      const tick = { step, total: settings.steps, loss: r.loss, metric: metricName ? { name: metricName, value: r.metrics[metricName] } : undefined, stepsPerSecond: (step - start) / Math.max(1e-9, seconds() - timeBase) };
      progress.update(tick);
      flags.onTick?.(tick);
      if (stop) {
        status = 'interrupted';
        break;
      }
      if (step % settings.checkpointEvery === 0 && step < settings.steps) await folder.checkpoint(model, step, seconds());
    }
  } finally {
    progress.stop();
    process.off('SIGINT', sigint);
    process.off('SIGTERM', sigterm);
  }

  const done = lines.length ? lines[lines.length - 1].step : start;
  const tail = lines.slice(-Math.max(1, Math.round(lines.length / 10)));
  Object.assign(record, {
    status,
    steps: done,
    seconds: Number(seconds().toFixed(3)),
    stepsPerSecond: Number(((done - start) / Math.max(1e-9, seconds() - timeBase)).toFixed(3)),
    finalLoss: tail.length ? tail.reduce((a, l) => a + l.loss, 0) / tail.length : undefined,
    finishedAt: new Date().toISOString(),
  });
  if (status === 'diverged') {
    await folder.flush();
    await folder.writeJson('run.json', record);
    model.dispose();
    throw new CliError(`training diverged at step ${step}: the loss is ${'not finite'}`, EXIT.diverged, [`  hint: lower the learning rate (--lr) or clip gradients (--clip 1); the run folder keeps the last checkpoint: ${folder.dir}`]);
  }
  if (status === 'interrupted') {
    await folder.checkpoint(model, done, seconds());
    log(`\n${stop}: saved a checkpoint at step ${done}; continue with: cellstack train --resume ${folder.dir}`);
  } else {
    await folder.checkpoint(model, done, seconds()); // so `--resume --steps N` extends a finished run
    await folder.saveModel(model);
    record.validation = validate(model, task, settings, fromLogits);
  }
  await folder.writeJson('run.json', record);
  const chart = await writeLossChart(folder.file('loss'), lines, task.baseline, `${path.basename(record.specFile)} on ${showTask(ref)}`);
  model.dispose();
  if (status === 'interrupted') return EXIT.interrupted;
  if (flags.quiet) return EXIT.ok;

  const v = record.validation!;
  const extra = Object.entries(v.metrics).map(([k, x]) => `, ${k} ${x.toFixed(4)}`).join('');
  process.stdout.write(
    [
      `trained ${done} steps in ${duration(record.seconds)} (${record.stepsPerSecond} steps/s on ${runtime.backend.name})`,
      `final training loss ${record.finalLoss!.toFixed(4)} (mean of the last ${tail.length} steps; memoryless baseline ${task.baseline.toFixed(4)})`,
      `validation (${v.examples} held-out examples): loss ${v.loss.toFixed(4)}${extra}`,
      `run folder: ${folder.dir}`,
      `chart: ${chart.svg} (and .png)`,
      '',
    ].join('\n'),
  );
  return EXIT.ok;
}
