import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { Interrupted, interruptible, layerPaths, type BackendChoice, type GpuAdapter, type GroupedOptimizer, type LayerPath, type ModelIR, type OptimizerName } from '@cellstack/core';
import type { Task } from '@cellstack/tasks';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { writeLossChart } from './charts.js';
import { CliError, EXIT, usage } from './errors.js';
import { checkFit, paddingNote } from './fit.js';
import { createProgress, duration, type ProgressMode, type Tick } from './progress.js';
import { defaultRunDir, RunFolder, type MetricsLine } from './run-folder.js';
import { cliRuntime, kernelPath } from './runtime.js';
import { checkHeap, compileSpec, loadSpecPlugins, readUserFile } from './spec.js';
import { makeTask, parseTaskFlag, showTask, type TaskRef } from './task-ref.js';
import { compileForTask, trainStep, validate, type StepResult, type TrainSettings } from './trainer.js';
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
  /** Held-out validation examples (default 1000). */
  valSize?: number;
  progress: ProgressMode;
  allow?: string[];
  maxParams?: number;
  /** In-process callers (compare --jobs 1): progress ticks instead of a display, and no summary on stdout. */
  onTick?: (t: Tick) => void;
  quiet?: boolean;
  /**
   * Raised (nonzero: signalCode) by the thread that owns the signals (train-thread.ts) while
   * this one may be busy in a step; checked inside the step, which is then abandoned.
   * Without it, this process's own SIGINT/SIGTERM handlers raise a flag of their own.
   */
  interrupt?: Int32Array;
  /** Where the run stands, for the owner of `interrupt`: folder locked, steps running, stopping after a signal, finishing. */
  onPhase?: (phase: TrainPhase, dir: string) => void;
}

export type TrainPhase = 'locked' | 'training' | 'stopping' | 'finishing';

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
/** A signal as the value of an interrupt flag (0: none). */
export const signalCode = (sig: string) => SIGNALS.indexOf(sig as (typeof SIGNALS)[number]) + 1;
export const signalName = (code: number) => SIGNALS[code - 1] ?? 'signal';

export const DEFAULTS = { steps: 1000, batch: 32, optimizer: 'adam' as OptimizerName, learningRate: 1e-3, clipNorm: 1, valSize: 1000 };

/** What run.json records (and `--resume` reads back). */
export interface RunRecord {
  versions: Record<string, string>;
  command: string[];
  specFile: string;
  /** `adapter`: the WebGPU adapter (vendor, device, …) on webgpu. */
  backend: { requested: BackendChoice; name: string; reason: string; adapter?: GpuAdapter };
  /**
   * Whole-sequence kernels on (else the step loop everywhere), the native addon's instruction
   * set when their products ran on it and their threads (1 otherwise), and the path each cell
   * layer ran in training: 'hand-written', 'traced' or 'step loop: <reason>' (recorded after the first step).
   */
  kernels: { fused: boolean; native: string | null; threads?: number; layers?: LayerPath[] };
  task: TaskRef & { description: string; baseline: number };
  settings: TrainSettings;
  fromLogits: boolean;
  params: number;
  status: 'running' | 'completed' | 'interrupted' | 'diverged' | 'failed';
  /** Each resume that changed a setting starts a segment: from which step, and what changed. */
  segments?: Array<{ fromStep: number; at: string; changed: Partial<TrainSettings> }>;
  /** Why the run stopped, when it diverged or failed. */
  error?: string;
  startedAt: string;
  finishedAt?: string;
  steps: number;
  seconds: number;
  stepsPerSecond?: number;
  finalLoss?: number;
  validation?: { examples: number; loss: number; metrics: Record<string, number> };
}


/** The first weight that holds a NaN or an infinity ("weight 'lstm/kernel' holds NaN"), or undefined. */
export async function nonFinite(model: LayersModel): Promise<string | undefined> {
  // Asynchronous reads: webgpu under Node has no synchronous one.
  const sumsT = tf.tidy(() => tf.stack(model.weights.map((w) => tf.sum(tf.mul(w.read(), 0)))));
  const sums = await sumsT.data();
  sumsT.dispose();
  const i = sums.findIndex((v) => !Number.isFinite(v));
  if (i < 0) return undefined;
  const values = await model.weights[i].read().data();
  return `weight '${model.weights[i].originalName}' holds ${values.some(Number.isNaN) ? 'NaN' : 'an infinity'}`;
}

/** An allocation failure (typed array, wasm heap) as a user error with the sizes to lower. */
function memoryError(e: unknown, s: TrainSettings, task: Task): CliError | undefined {
  const msg = (e as Error)?.message ?? '';
  if (!(e instanceof RangeError) && !/out of memory|memory access out of bounds|Cannot allocate|allocation failed|Invalid typed array length|OOM/i.test(msg)) return undefined;
  return new CliError(`out of memory at batch ${s.batch} × sequence length ${task.inputShape[0] ?? 'varying'} (${msg}); lower --batch (e.g. ${Math.max(1, Math.floor(s.batch / 4))}) or the sequence length`, EXIT.input);
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
  if (flags.resume !== undefined && !existsSync(path.join(flags.resume, 'run.json'))) {
    throw new CliError(`'${flags.resume}' is not a run folder: it has no run.json`, EXIT.input);
  }
  if (!flags.resume) await readUserFile(specFile!); // fail fast, before the folder is claimed and the backend starts
  const folder = new RunFolder(flags.resume ?? flags.out ?? defaultRunDir(specFile!));
  const fresh = !existsSync(folder.dir);
  const recovered = await folder.lock();
  if (recovered) log(recovered);
  flags.onPhase?.('locked', folder.dir);
  let claimed = false;
  try {
    if (!flags.resume) await folder.claimNew();
    claimed = true;
    return await trainLocked(folder, specFile, flags, log);
  } catch (e) {
    // A new run that failed before run.json leaves nothing behind, so the same --out works again.
    if (!flags.resume && claimed && !existsSync(folder.file('run.json'))) for (const f of ['spec.rnn', 'metrics.jsonl']) rmSync(folder.file(f), { force: true });
    throw e;
  } finally {
    folder.unlock();
    if (fresh) rmEmpty(folder.dir);
  }
}

function rmEmpty(dir: string) {
  if (existsSync(dir) && !readdirSync(dir).length) rmdirSync(dir);
}

/** Resume flags that would change the run and cannot be applied to it: refused, never ignored. */
function refuseChanges(previous: RunRecord, specFile: string | undefined, flags: TrainFlags, folder: RunFolder, specText: string) {
  const refuse = (what: string) => {
    throw new CliError(`--resume ${folder.dir}: ${what}; start a new run (--out) instead`, EXIT.usage);
  };
  if (flags.optimizer && flags.optimizer !== previous.settings.optimizer) refuse(`--optimizer ${flags.optimizer} cannot continue ${previous.settings.optimizer}'s state`);
  if (flags.seed !== undefined && flags.seed !== previous.settings.seed) refuse(`--seed ${flags.seed} differs from the run's seed ${previous.settings.seed} (the weights and data come from it)`);
  if (flags.epochs !== undefined) refuse('--epochs is fixed when a run starts (give --steps N to extend it)');
  if (flags.task && showTask(parseTaskFlag(flags.task)) !== showTask(previous.task)) refuse(`--task ${flags.task} differs from the run's task ${showTask(previous.task)}`);
  if (specFile && readFileSync(specFile, 'utf8') !== specText) refuse(`${specFile} differs from the run's spec.rnn`);
}

async function trainLocked(folder: RunFolder, specFile: string | undefined, flags: TrainFlags, log: (line: string) => void): Promise<number> {
  const resuming = flags.resume !== undefined && folder.hasCheckpoint();
  const previous = flags.resume ? await folder.readJson<RunRecord>('run.json') : undefined;
  if (previous) refuseChanges(previous, specFile, flags, folder, await readUserFile(folder.file('spec.rnn')));
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

  let changed: Partial<TrainSettings> = {};
  if (previous) {
    task = makeTask(taskRef!);
    // Applied on resume and recorded as a new segment of the run (run.json `segments`).
    const asked: Partial<TrainSettings> = { steps: flags.steps, batch: flags.batch, learningRate: flags.lr, clipNorm: flags.clip, checkpointEvery: flags.checkpointEvery, valSize: flags.valSize };
    changed = Object.fromEntries(Object.entries(asked).filter(([k, v]) => v !== undefined && v !== previous.settings[k as keyof TrainSettings]));
    settings = { ...previous.settings, ...changed };
    if (resuming) {
      // A third-party cell's layer class exists once its (allowed) package is imported.
      await loadSpecPlugins(file, runtime, flags.allow);
      const restored = await folder.restore();
      model = restored.model;
      start = restored.info.step;
      timeBase = restored.info.time;
      lines = restored.lines;
      if (restored.report) log(restored.report);
      const ir = (model.getUserDefinedMetadata() as { cellstack: { ir: ModelIR } }).cellstack.ir;
      fromLogits = checkFit(model, ir, task, `${folder.dir}: `).fromLogits;
      slots = restored.optimizerSlots;
      log(`resuming ${folder.dir} at step ${start}/${settings.steps}${slots ? '' : ' (no optimizer state saved: it starts afresh)'}`);
    } else {
      const spec = await compileSpec(file, { runtime, task: taskRef, seed: settings.seed, allow: flags.allow, maxParams: flags.maxParams });
      ({ fromLogits } = spec);
      model = spec.model!;
      await folder.create(spec.source); // empties metrics.jsonl: the run starts over
      log(`no checkpoint in ${folder.dir} yet: starting it again from step 0`);
    }
    if (Object.keys(changed).length) log(`resume changes ${Object.entries(changed).map(([k, v]) => `${k} ${previous.settings[k as keyof TrainSettings] ?? 'none'} → ${v}`).join(', ')} (recorded in run.json segments)`);
  } else {
    const spec = await compileSpec(file, { runtime, task: taskRef, requireTask: true, seed: flags.seed, allow: flags.allow, maxParams: flags.maxParams });
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
      valSize: flags.valSize ?? DEFAULTS.valSize,
    };
    settings.checkpointEvery = flags.checkpointEvery ?? Math.max(10, Math.round(settings.steps / 10));
    await folder.create(spec.source);
  }
  // A run stopped after its last step (killed before the final model was written) only needs finishing.
  const finishing = settings.steps <= start && previous?.status !== 'completed';
  if (settings.steps < start || (settings.steps === start && !finishing)) {
    model.dispose();
    throw usage(`the run is already at step ${start}; pass --steps N (N > ${start}) to train further`);
  }
  try {
    checkHeap(model, task, settings.batch, `${file}: `);
  } catch (e) {
    model.dispose();
    throw e;
  }
  const bad = await nonFinite(model);
  if (bad) {
    model.dispose();
    throw new CliError(`${folder.dir}: the model's ${start ? `checkpoint at step ${start}` : 'initial weights'} are not finite: ${bad} (check the spec's options for Infinity / 1e999)`, EXIT.input);
  }

  compileForTask(model, task, settings, fromLogits);
  const note = paddingNote((model.getUserDefinedMetadata() as { cellstack: { ir: ModelIR } }).cellstack.ir, task);
  if (note) log(note);
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
    backend: { requested: backend, name: runtime.backend.name, reason: runtime.backend.reason, ...(runtime.backend.adapter ? { adapter: runtime.backend.adapter } : {}) },
    kernels: { fused: kernels.fused, native: kernels.native, threads: kernels.threads },
    task: { ...ref, description: task.description, baseline: task.baseline },
    settings,
    fromLogits,
    params: model.countParams(),
    status: 'running',
    startedAt: previous?.startedAt ?? new Date().toISOString(),
    segments: [...(previous?.segments ?? [{ fromStep: 0, at: previous?.startedAt ?? new Date().toISOString(), changed: {} }]), ...(Object.keys(changed).length ? [{ fromStep: start, at: new Date().toISOString(), changed }] : [])],
    steps: start,
    seconds: timeBase,
  };
  await folder.writeJson('run.json', record);
  log(`task ${showTask(ref)}: ${task.description}; memoryless baseline ${task.baseline.toFixed(4)}`);
  log(`model: ${record.params} parameters; ${settings.steps} steps of batch ${settings.batch}, ${settings.optimizer} lr ${settings.learningRate}, clip ${settings.clipNorm ?? 'none'}, seed ${settings.seed}`);
  log(`run folder: ${folder.dir}`);

  // Ctrl-C / SIGTERM raise the interrupt flag: the step in progress stops at its next check
  // (between kernel calls, products or time steps) and is abandoned, or, when no step is
  // running, the loop stops before the next; the checkpoint of the last completed step is
  // saved and the exit code is 130. A second signal (a second later: a terminal and a
  // forwarding parent may deliver the same Ctrl-C twice) exits at once. Signals reach this
  // thread's handlers only between steps: `cellstack train` runs this function on a worker
  // thread and raises `flags.interrupt` from the main one (train-thread.ts).
  const flag = flags.interrupt ?? new Int32Array(new SharedArrayBuffer(4));
  let stopAt = 0;
  const onSignal = (sig: string) => {
    if (stopAt && Date.now() - stopAt > 1000) process.exit(EXIT.interrupted);
    if (stopAt) return;
    log(`\n${sig}: stopping (the step in progress is abandoned; again to quit without saving)`);
    Atomics.store(flag, 0, signalCode(sig));
    stopAt = Date.now();
  };
  const sigint = () => onSignal('SIGINT');
  const sigterm = () => onSignal('SIGTERM');
  if (!flags.interrupt) {
    process.on('SIGINT', sigint);
    process.on('SIGTERM', sigterm);
  }
  const stop = () => Atomics.load(flag, 0);

  const progress = createProgress(flags.onTick ? 'none' : flags.progress);
  const t0 = performance.now();
  const seconds = () => timeBase + (performance.now() - t0) / 1000;
  let step = start;
  let status: RunRecord['status'] = 'completed';
  let diverged: string | undefined;
  flags.onPhase?.('training', folder.dir);
  try {
    while (step < settings.steps) {
      if (stop()) {
        status = 'interrupted';
        break;
      }
      step++;
      let r: StepResult;
      try {
        r = await interruptible(flag, () => trainStep(model, task, settings, step));
      } catch (e) {
        if (!(e instanceof Interrupted)) throw e;
        log(`${signalName(stop())}: step ${step} abandoned`);
        step--;
        status = 'interrupted';
        break;
      }
      if (!record.kernels.layers) {
        record.kernels.layers = layerPaths(model);
        for (const l of record.kernels.layers) log(`layer ${l.layer} (${l.cell}): ${l.path ?? 'did not run'}`);
      }
      const gradNorm = await optimizer.readGradNorm();
      const line: MetricsLine = { step, loss: r.loss, time: Number(seconds().toFixed(3)), ...r.metrics, ...(gradNorm === undefined ? {} : { gradNorm }) };
      // Divergence: any non-finite number of the step (loss, metric, gradient norm) or weight after it.
      const badValue = Object.entries(line).find(([, v]) => !Number.isFinite(v));
      diverged = badValue ? `the ${badValue[0] === 'gradNorm' ? 'gradient norm' : badValue[0]} is ${badValue[1]}` : await nonFinite(model);
      if (diverged) {
        status = 'diverged';
        break;
      }
      lines.push(line);
      folder.record(line);
      const metricName = Object.keys(r.metrics)[0];
      const tick = { step, total: settings.steps, loss: r.loss, metric: metricName ? { name: metricName, value: r.metrics[metricName] } : undefined, stepsPerSecond: (step - start) / Math.max(1e-9, seconds() - timeBase) };
      progress.update(tick);
      flags.onTick?.(tick);
      if (step % settings.checkpointEvery === 0 && step < settings.steps) await folder.checkpoint(model, step, seconds());
    }
  } catch (e) {
    // Not left 'running': the record says the run failed and why.
    await folder.flush().catch(() => undefined);
    await folder.writeJson('run.json', { ...record, status: 'failed', error: (e as Error).message, finishedAt: new Date().toISOString() }).catch(() => undefined);
    model.dispose();
    throw memoryError(e, settings, task) ?? e;
  } finally {
    progress.stop();
    process.off('SIGINT', sigint);
    process.off('SIGTERM', sigterm);
  }
  flags.onPhase?.(status === 'interrupted' ? 'stopping' : 'finishing', folder.dir);

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
    record.error = `diverged at step ${step}: ${diverged}`;
    await folder.writeJson('run.json', record);
    model.dispose();
    const kept = folder.hasCheckpoint() ? (await folder.readJson<{ step: number }>('checkpoint.json')).step : undefined;
    const lower = Number((settings.learningRate / 10).toPrecision(3));
    const hint = kept !== undefined
      ? `the run folder keeps the last finite checkpoint (step ${kept}); continue from it with a lower rate or tighter clipping: cellstack train --resume ${folder.dir} --lr ${lower}${settings.clipNorm ? '' : ' --clip 1'}`
      : `no checkpoint was saved before step ${step}; start again with a lower rate: cellstack train ${record.specFile} --lr ${lower}${settings.clipNorm ? '' : ' --clip 1'} --out <new folder>`;
    throw new CliError(`training diverged at step ${step}: ${diverged}`, EXIT.diverged, [`  hint: ${hint}`]);
  }
  if (status === 'interrupted') {
    await folder.checkpoint(model, done, seconds());
    log(`\n${signalName(stop())}: saved a checkpoint at step ${done}; continue with: cellstack train --resume ${folder.dir}`);
  } else {
    await folder.checkpoint(model, done, seconds()); // so `--resume --steps N` extends a finished run
    await folder.saveModel(model);
    record.validation = await validate(model, task, settings, fromLogits);
  }
  const chart = await writeLossChart(folder.file('loss'), lines, task.baseline, `${path.basename(record.specFile)} on ${showTask(ref)}`);
  // Last: until run.json says completed, --resume finishes the run (model, validation, chart).
  await folder.writeJson('run.json', record);
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
