import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { CellstackError } from './errors.js';

/** Write a file atomically: a temp file in the same folder, then rename over the target. */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  await fs.writeFile(tmp, data);
  await fs.rename(tmp, file);
}

function concatWeightData(data: ArrayBuffer | ArrayBuffer[]): Uint8Array {
  if (!Array.isArray(data)) return new Uint8Array(data);
  const total = data.reduce((a, b) => a + b.byteLength, 0);
  const out = new Uint8Array(total);
  let off = 0;
  for (const b of data) {
    out.set(new Uint8Array(b), off);
    off += b.byteLength;
  }
  return out;
}

/**
 * Save a model to a folder as tfjs's standard model.json + weights file. Atomic: the
 * weights go to a content-named file first and model.json (which names it) is renamed
 * into place last, so a crash never leaves a half-written model behind.
 */
export function saveTo(dir: string): tf.io.IOHandler {
  return tf.io.withSaveHandler(async (artifacts) => {
    await fs.mkdir(dir, { recursive: true });
    const weights = concatWeightData(artifacts.weightData ?? new ArrayBuffer(0));
    const weightsFile = `weights-${createHash('sha256').update(weights).digest('hex').slice(0, 16)}.bin`;
    await writeFileAtomic(path.join(dir, weightsFile), weights);
    const modelJson = {
      format: artifacts.format ?? 'layers-model',
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy ?? null,
      modelTopology: artifacts.modelTopology,
      weightsManifest: [{ paths: [weightsFile], weights: artifacts.weightSpecs ?? [] }],
      ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
      ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
    };
    await writeFileAtomic(path.join(dir, 'model.json'), JSON.stringify(modelJson));
    // Remove weights files no model.json refers to any more.
    for (const f of await fs.readdir(dir)) {
      if (/^weights-[0-9a-f]{16}\.bin$/.test(f) && f !== weightsFile) await fs.rm(path.join(dir, f), { force: true });
    }
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weights.byteLength } };
  });
}

/** Every className in a layers topology (nested configs included). */
function classNames(node: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(node)) for (const n of node) classNames(n, out);
  else if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    if (typeof o.class_name === 'string') out.add(o.class_name);
    if (typeof o.className === 'string') out.add(o.className);
    for (const v of Object.values(o)) classNames(v, out);
  }
  return out;
}

/** The first-party package of each cellstack cell; any other cell comes from a third-party package. */
const FIRST_PARTY: Record<string, string> = {
  NRU: '@cellstack/cell-nru',
  URLSTM: '@cellstack/cell-ur',
  URGRU: '@cellstack/cell-ur',
  STAR: '@cellstack/cell-star',
  RRU: '@cellstack/cell-rru',
  DMU: '@cellstack/cell-dmu',
};
const BASELINES = new Set(['LSTM', 'GRU', 'SimpleRNN', 'JANET']);

/** How to get a missing cell registered, naming the right package. */
function pluginHint(cell: string): string {
  if (BASELINES.has(cell)) return `${cell} is a baseline of @cellstack/core, registered when core loads: is a second copy of @cellstack/core installed?`;
  if (Object.hasOwn(FIRST_PARTY, cell)) return `import its plugin package first: import '${FIRST_PARTY[cell]}'`;
  return "import the third-party package that defines it first (the spec's `use` line names it; with the CLI, allow it with --allow <package> or the project's cellstack.config.json)";
}

function registered(className: string): boolean {
  const map = tf.serialization.SerializationMap.getMap() as unknown as { classNameMap: Record<string, unknown> };
  return Object.hasOwn(map.classNameMap, className);
}

/**
 * Load a model saved with `saveTo` (or any tfjs layers model.json on disk). Only
 * registered layer classes are instantiated — a model file never brings code of its
 * own — and a missing cell plugin is named in the error.
 */
export async function loadModel(location: string): Promise<tfl.LayersModel> {
  const file = location.endsWith('.json') ? location : path.join(location, 'model.json');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    throw new CellstackError(file, 'no model here: expected a model.json written by model.save(saveTo(dir))');
  }
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CellstackError(file, `not valid JSON (${(e as Error).message})`);
  }
  if (!json || typeof json !== 'object' || !json.modelTopology) throw new CellstackError(file, "not a tfjs layers model: no 'modelTopology'");
  const missing = [...classNames(json.modelTopology)].filter((c) => c.startsWith('cellstack.') && !registered(c));
  if (missing.length) {
    const cells = missing.map((c) => c.slice('cellstack.'.length));
    throw new CellstackError(file, `the model uses cell${cells.length > 1 ? 's' : ''} ${cells.join(', ')}, not registered in this process`, pluginHint(cells[0]));
  }
  const manifest = (json.weightsManifest ?? []) as Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
  const weightSpecs = manifest.flatMap((g) => g.weights);
  const buffers: Uint8Array[] = [];
  for (const p of manifest.flatMap((g) => g.paths)) {
    const wf = path.join(path.dirname(file), p);
    try {
      buffers.push(await fs.readFile(wf));
    } catch {
      throw new CellstackError(wf, `weights file named in ${path.basename(file)} is missing`);
    }
  }
  const data = concatWeightData(buffers.map((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer));
  const expected = weightSpecs.reduce((a, w) => a + w.shape.reduce((x, y) => x * y, 1) * 4, 0);
  if (data.byteLength !== expected) {
    throw new CellstackError(file, `weights hold ${data.byteLength} bytes but the manifest needs ${expected}: the files do not belong together or are truncated`);
  }
  // saveTo names each weights file by its content: a file whose bytes changed is refused, not loaded.
  manifest.flatMap((g) => g.paths).forEach((p, i) => {
    const named = /^weights-([0-9a-f]{16})\.bin$/.exec(path.basename(p));
    if (named && createHash('sha256').update(buffers[i]).digest('hex').slice(0, 16) !== named[1]) {
      throw new CellstackError(path.join(path.dirname(file), p), 'the weights are damaged: their content hash does not match the one in the file name');
    }
  });
  try {
    return await tfl.loadLayersModel(tf.io.fromMemory({
      modelTopology: json.modelTopology as object,
      weightSpecs,
      weightData: data.buffer as ArrayBuffer,
      userDefinedMetadata: json.userDefinedMetadata as object | undefined,
      trainingConfig: json.trainingConfig as tf.io.TrainingConfig | undefined,
    }));
  } catch (e) {
    throw new CellstackError(file, `could not load the model: ${(e as Error).message}`);
  }
}
