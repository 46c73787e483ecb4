import * as tf from '@tensorflow/tfjs-core';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, promises as fs } from 'node:fs';
import { hostname } from 'node:os';
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

/** A checkpoint folder's manifest.json: what it holds and which model it belongs to. */
export interface CheckpointManifest {
  step: number;
  /** sha256 of the run's spec.rnn. */
  specHash: string;
  /** Every weight's name and shape, in the model's order. */
  params: Array<{ name: string; shape: number[] }>;
  /** sha256 of each file in the checkpoint folder. */
  files: Record<string, string>;
}

export const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

/** fs errors on the user's paths as one-line errors (exit 1) naming the path. */
export function pathError(e: unknown, what: string): never {
  const err = e as NodeJS.ErrnoException;
  const why: Record<string, string> = {
    EEXIST: 'a file is in the way', ENOTDIR: 'a file is in the way (a folder was expected)', EACCES: 'permission denied',
    EPERM: 'operation not permitted', EROFS: 'read-only file system', ENOENT: 'no such file or folder', ENOSPC: 'no space left on the device',
  };
  if (err?.code && why[err.code]) throw new CliError(`cannot write ${what} '${err.path ?? ''}': ${why[err.code]}`, EXIT.input);
  throw e;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

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
  private locked = false;
  private readonly release = () => this.unlock();
  constructor(readonly dir: string) {}

  /**
   * Become the folder's one owner: create it if needed and take lock.json exclusively. A lock
   * whose process is gone (same host) is stale and taken over; a live one is refused. Returns
   * a line to report when a stale lock was recovered.
   */
  async lock(): Promise<string | undefined> {
    const file = this.file('lock.json');
    try {
      // The parent recursively, the folder itself not: node's recursive mkdir never returns under /proc.
      if (!existsSync(this.dir)) {
        if (!existsSync(path.dirname(path.resolve(this.dir)))) await fs.mkdir(path.dirname(path.resolve(this.dir)), { recursive: true });
        await fs.mkdir(this.dir);
      }
      else if (!(await fs.stat(this.dir)).isDirectory()) throw Object.assign(new Error(), { code: 'ENOTDIR', path: this.dir });
    } catch (e) {
      pathError(e, 'the run folder');
    }
    let recovered: string | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        await fs.writeFile(file, JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }), { flag: 'wx' });
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 2) pathError(e, 'the run folder lock');
      }
      let owner: { pid?: number; host?: string; since?: string } = {};
      try {
        owner = JSON.parse(readFileSync(file, 'utf8'));
      } catch {
        // a lock cut short by a crash between create and write: nobody holds it
      }
      if (owner.pid && (owner.host !== hostname() || alive(owner.pid))) {
        throw new CliError(`'${this.dir}' is in use by another cellstack process (pid ${owner.pid} on ${owner.host}, since ${owner.since}); wait for it to finish or stop it`, EXIT.input);
      }
      recovered = `recovered a stale lock on ${this.dir} (pid ${owner.pid ?? '?'} is gone)`;
      await fs.rm(file, { force: true });
    }
    this.locked = true;
    process.on('exit', this.release);
    return recovered;
  }

  unlock() {
    if (!this.locked) return;
    this.locked = false;
    process.off('exit', this.release);
    rmSync(this.file('lock.json'), { force: true });
  }

  /** Refuse a folder (other than a fresh or empty one) that is not a run: a new run must not overwrite it. */
  async claimNew() {
    const entries = (await fs.readdir(this.dir)).filter((f) => f !== 'lock.json');
    if (entries.includes('run.json')) {
      throw new CliError(`'${this.dir}' already holds a run; continue it with --resume ${this.dir}, or choose another --out`, EXIT.usage);
    }
    if (entries.length) {
      throw new CliError(`'${this.dir}' is not empty and is not a cellstack run folder (it holds ${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', …' : ''}); choose a new or empty --out`, EXIT.usage);
    }
  }

  file(name: string) {
    return path.join(this.dir, name);
  }

  async create(specSource: string) {
    try {
      await fs.mkdir(this.dir, { recursive: true });
      await writeFileAtomic(this.file('spec.rnn'), specSource);
      await fs.writeFile(this.file('metrics.jsonl'), '');
    } catch (e) {
      pathError(e, 'the run folder');
    }
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
    // Last in the folder, before checkpoint.json points at it: hashes of every file and the model's identity.
    const files: Record<string, string> = {};
    for (const f of (await fs.readdir(this.file(rel))).filter((f) => f !== 'manifest.json' && !f.includes('.tmp-')).sort()) files[f] = sha256(await fs.readFile(this.file(path.join(rel, f))));
    const manifest: CheckpointManifest = { step, specHash: sha256(await fs.readFile(this.file('spec.rnn'))), params: modelParams(model), files };
    await writeFileAtomic(this.file(path.join(rel, 'manifest.json')), `${JSON.stringify(manifest, null, 2)}\n`);
    const info: CheckpointInfo = { step, dir: rel, time, savedAt: new Date().toISOString() };
    await this.writeJson('checkpoint.json', info);
    for (const d of await fs.readdir(this.file('checkpoints'))) {
      if (path.join('checkpoints', d) !== rel) await fs.rm(this.file(path.join('checkpoints', d)), { recursive: true, force: true });
    }
  }

  hasCheckpoint() {
    return existsSync(this.file('checkpoint.json'));
  }

  /**
   * Check a checkpoint folder against its manifest: every file's hash, the spec it was written
   * for. Names what does not match (exit 1). A checkpoint from before manifests passes as it is.
   */
  async verify(info: CheckpointInfo): Promise<CheckpointManifest | undefined> {
    const where = this.file(info.dir);
    if (!existsSync(path.join(where, 'manifest.json'))) return undefined;
    const damaged = (what: string) => new CliError(`checkpoint ${where} is damaged: ${what}; delete it (and checkpoint.json) to resume from the start`, EXIT.input);
    let manifest: CheckpointManifest;
    try {
      manifest = JSON.parse(await fs.readFile(path.join(where, 'manifest.json'), 'utf8'));
    } catch {
      throw damaged('manifest.json is not valid JSON');
    }
    for (const [name, hash] of Object.entries(manifest.files ?? {})) {
      const data = await fs.readFile(path.join(where, name)).catch(() => undefined);
      if (!data) throw damaged(`${name} is missing`);
      if (sha256(data) !== hash) throw damaged(`${name} does not match the hash in its manifest`);
    }
    const spec = sha256(await fs.readFile(this.file('spec.rnn')).catch(() => Buffer.alloc(0)));
    if (manifest.specHash !== spec) {
      throw new CliError(`checkpoint ${where} belongs to another model: it was written for a spec with hash ${manifest.specHash.slice(0, 12)}, this run's spec.rnn has ${spec.slice(0, 12)}`, EXIT.input);
    }
    return manifest;
  }

  /** The last checkpoint's model (verified), and metrics.jsonl repaired and cut back to the lines up to its step. */
  async restore(): Promise<{ model: LayersModel; info: CheckpointInfo; lines: MetricsLine[]; optimizerSlots?: tf.NamedTensorMap; report?: string }> {
    const info = await this.readJson<CheckpointInfo>('checkpoint.json');
    const manifest = await this.verify(info);
    const model = await loadModel(this.file(info.dir));
    if (manifest) {
      const have = modelParams(model);
      const diff = manifest.params.find((p, i) => have[i]?.name !== p.name || have[i].shape.join() !== p.shape.join());
      if (diff || have.length !== manifest.params.length) {
        const at = have.find((h) => h.name === diff?.name);
        throw new CliError(`checkpoint ${this.file(info.dir)} does not match its manifest: parameter ${diff?.name ?? `count ${have.length}`} has shape [${at?.shape ?? '-'}], the manifest says [${diff?.shape ?? manifest.params.length}]`, EXIT.input);
      }
    }
    let optimizerSlots: tf.NamedTensorMap | undefined;
    if (existsSync(this.file(path.join(info.dir, 'optimizer.json')))) {
      try {
        const specs = JSON.parse(await fs.readFile(this.file(path.join(info.dir, 'optimizer.json')), 'utf8')) as tf.io.WeightsManifestEntry[];
        const bin = await fs.readFile(this.file(path.join(info.dir, 'optimizer.bin')));
        const need = specs.reduce((a, w) => a + w.shape.reduce((x, y) => x * y, 1) * 4, 0);
        if (bin.byteLength !== need) throw new Error(`optimizer.bin holds ${bin.byteLength} bytes, optimizer.json needs ${need}`);
        optimizerSlots = tf.io.decodeWeights(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) as ArrayBuffer, specs);
      } catch (e) {
        model.dispose();
        throw new CliError(`checkpoint ${this.file(info.dir)}: the optimiser state is damaged (${(e as Error).message}); delete the checkpoint to resume from the start`, EXIT.input);
      }
    }
    const { lines, report } = repairMetrics(await fs.readFile(this.file('metrics.jsonl'), 'utf8').catch(() => ''), info.step);
    await writeFileAtomic(this.file('metrics.jsonl'), lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
    return { model, info, lines, optimizerSlots, report };
  }

  async readMetrics(): Promise<MetricsLine[]> {
    const text = await fs.readFile(this.file('metrics.jsonl'), 'utf8').catch(() => '');
    return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as MetricsLine);
  }

  async saveModel(model: LayersModel) {
    await model.save(saveTo(this.file('model')));
  }
}

/** Every weight's name and shape, in the model's order (a checkpoint's identity). */
export const modelParams = (model: LayersModel) => model.weights.map((w) => ({ name: w.originalName, shape: [...w.shape] as number[] }));

/**
 * metrics.jsonl as a resume finds it: every valid line up to the checkpoint's step is kept
 * (one per step, in order), the rest removed. The report names damaged lines, duplicates
 * and steps missing below the checkpoint (undefined when the file was clean).
 */
export function repairMetrics(text: string, upTo: number): { lines: MetricsLine[]; report?: string } {
  const byStep = new Map<number, MetricsLine>();
  const damaged: number[] = [];
  let duplicates = 0;
  const raws = text.split('\n');
  raws.forEach((raw, i) => {
    if (!raw.trim()) return;
    let line: MetricsLine | undefined;
    try {
      line = JSON.parse(raw) as MetricsLine;
    } catch {
      // a line cut short by a hard kill, or damaged by hand
    }
    if (!line || typeof line !== 'object' || !Number.isInteger(line.step) || line.step < 1 || typeof line.loss !== 'number') {
      // The last line cut short by a kill is expected: past the checkpoint, no loss.
      if (i < raws.length - 1 || raw.startsWith('{"step":') === false) damaged.push(i + 1);
      return;
    }
    if (line.step > upTo) return;
    if (byStep.has(line.step)) duplicates++;
    byStep.set(line.step, line);
  });
  const lines = [...byStep.values()].sort((a, b) => a.step - b.step);
  const missing = upTo - lines.length;
  const parts = [
    damaged.length ? `${damaged.length} damaged line${damaged.length > 1 ? 's' : ''} removed (line ${damaged.slice(0, 5).join(', ')}${damaged.length > 5 ? ', …' : ''})` : '',
    duplicates ? `${duplicates} duplicate step${duplicates > 1 ? 's' : ''} removed` : '',
    missing > 0 ? `${missing} step${missing > 1 ? 's' : ''} up to ${upTo} missing` : '',
  ].filter(Boolean);
  return { lines, report: parts.length ? `metrics.jsonl: kept ${lines.length} lines; ${parts.join('; ')}` : undefined };
}

/** A fresh folder name under `runs/`: <spec>-<YYYYMMDD-HHMMSS>[-n]. */
export function defaultRunDir(specFile: string, root = 'runs'): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const base = path.join(root, `${path.basename(specFile).replace(/\.rnn$/, '')}-${stamp}`);
  let dir = base;
  for (let i = 2; existsSync(dir); i++) dir = `${base}-${i}`;
  return dir;
}
