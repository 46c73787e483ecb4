import * as tf from '@tensorflow/tfjs-core';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { loadModel, saveTo, writeFileAtomic } from '@cellstack/core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { CliError, EXIT } from './errors.js';

/** One line of metrics.jsonl. */
export interface MetricsLine {
  step: number;
  loss: number;
  /** Seconds since the run started (training time only, across resumes). */
  time: number;
  [metric: string]: number;
}

export interface CheckpointInfo {
  step: number;
  /** Folder of the checkpoint's model, relative to the run folder. */
  dir: string;
  /** Training seconds up to this step. */
  time: number;
  savedAt: string;
}

/**
 * The files of a run folder:
 *   run.json, spec.rnn, metrics.jsonl, checkpoint.json + checkpoints/step-N/,
 *   model/ (final model), loss.svg, loss.png
 * Checkpoints are crash-safe: the model goes to a fresh folder, then checkpoint.json
 * (written atomically) points at it, then older folders are removed.
 */
export class RunFolder {
  private pending: string[] = [];
  constructor(readonly dir: string) {}

  file(name: string) {
    return path.join(this.dir, name);
  }

  async create(specSource: string) {
    await fs.mkdir(this.dir, { recursive: true });
    await writeFileAtomic(this.file('spec.rnn'), specSource);
    await fs.writeFile(this.file('metrics.jsonl'), '');
  }

  async writeJson(name: string, value: unknown) {
    await writeFileAtomic(this.file(name), `${JSON.stringify(value, null, 2)}\n`);
  }

  async readJson<T>(name: string): Promise<T> {
    const text = await fs.readFile(this.file(name), 'utf8').catch(() => {
      throw new CliError(`'${this.dir}' is not a run folder: it has no ${name}`, EXIT.input);
    });
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CliError(`${this.file(name)} is not valid JSON (the run folder is damaged)`, EXIT.input);
    }
  }

  /** Queue a metrics line; written by `flush` (at progress ticks and checkpoints). */
  record(line: MetricsLine) {
    this.pending.push(JSON.stringify(line));
  }

  async flush() {
    if (!this.pending.length) return;
    const text = `${this.pending.join('\n')}\n`;
    this.pending = [];
    await fs.appendFile(this.file('metrics.jsonl'), text);
  }

  async checkpoint(model: LayersModel, step: number, time: number) {
    await this.flush();
    const rel = path.join('checkpoints', `step-${String(step).padStart(7, '0')}`);
    await model.save(saveTo(this.file(rel)));
    // The optimiser's slots (Adam moments) too, so a resumed run continues exactly.
    if (model.optimizer) {
      const { data, specs } = await tf.io.encodeWeights(await model.optimizer.getWeights());
      await writeFileAtomic(this.file(path.join(rel, 'optimizer.bin')), new Uint8Array(data));
      await writeFileAtomic(this.file(path.join(rel, 'optimizer.json')), JSON.stringify(specs));
    }
    const info: CheckpointInfo = { step, dir: rel, time, savedAt: new Date().toISOString() };
    await this.writeJson('checkpoint.json', info);
    for (const d of await fs.readdir(this.file('checkpoints'))) {
      if (path.join('checkpoints', d) !== rel) await fs.rm(this.file(path.join('checkpoints', d)), { recursive: true, force: true });
    }
  }

  hasCheckpoint() {
    return existsSync(this.file('checkpoint.json'));
  }

  /** The last checkpoint's model, and metrics.jsonl cut back to the lines up to its step. */
  async restore(): Promise<{ model: LayersModel; info: CheckpointInfo; lines: MetricsLine[]; optimizerSlots?: tf.NamedTensorMap }> {
    const info = await this.readJson<CheckpointInfo>('checkpoint.json');
    const model = await loadModel(this.file(info.dir));
    let optimizerSlots: tf.NamedTensorMap | undefined;
    if (existsSync(this.file(path.join(info.dir, 'optimizer.json')))) {
      const specs = JSON.parse(await fs.readFile(this.file(path.join(info.dir, 'optimizer.json')), 'utf8')) as tf.io.WeightsManifestEntry[];
      const bin = await fs.readFile(this.file(path.join(info.dir, 'optimizer.bin')));
      optimizerSlots = tf.io.decodeWeights(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) as ArrayBuffer, specs);
    }
    const text = await fs.readFile(this.file('metrics.jsonl'), 'utf8').catch(() => '');
    const lines: MetricsLine[] = [];
    for (const raw of text.split('\n')) {
      try {
        const line = JSON.parse(raw) as MetricsLine;
        if (line.step <= info.step && line.step === lines.length + 1) lines.push(line);
      } catch {
        // a line cut short by a hard kill: it is past the checkpoint anyway
      }
    }
    await writeFileAtomic(this.file('metrics.jsonl'), lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
    return { model, info, lines, optimizerSlots };
  }

  async readMetrics(): Promise<MetricsLine[]> {
    const text = await fs.readFile(this.file('metrics.jsonl'), 'utf8').catch(() => '');
    return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as MetricsLine);
  }

  async saveModel(model: LayersModel) {
    await model.save(saveTo(this.file('model')));
  }
}

/** A fresh folder name under `runs/`: <spec>-<YYYYMMDD-HHMMSS>[-n]. */
export function defaultRunDir(specFile: string, root = 'runs'): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const base = path.join(root, `${path.basename(specFile).replace(/\.rnn$/, '')}-${stamp}`);
  let dir = base;
  for (let i = 2; existsSync(dir); i++) dir = `${base}-${i}`;
  return dir;
}
