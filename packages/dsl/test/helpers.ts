import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { runtimeOf, type Runtime } from '@cellstack/core';
import { toyCells } from './fixtures/cells.js';

export const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

/** A runtime with the baselines and the toy STAR / RRU / UR-LSTM cells. */
export function toyRuntime(): Runtime {
  const rt = runtimeOf({ name: tf.getBackend(), reason: 'test' });
  for (const c of toyCells) rt.use(c);
  return rt;
}

/**
 * A throwaway project folder whose node_modules links fixture packages under the given
 * names (as `npm install` would), with optional config files.
 */
export async function fixtureProject(links: Record<string, string>, files: Record<string, string> = {}): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'cellstack-dsl-'));
  for (const [name, fixture] of Object.entries(links)) {
    const target = path.join(dir, 'node_modules', name);
    await mkdir(path.dirname(target), { recursive: true });
    await symlink(path.join(FIXTURES, fixture), target, 'dir');
  }
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), text);
  }
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** `line:column` of each diagnostic, with its code, for compact assertions. */
export const where = (ds: { line: number; column: number; code: string }[]) => ds.map((d) => `${d.line}:${d.column} ${d.code}`);
