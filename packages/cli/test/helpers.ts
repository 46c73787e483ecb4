import { expect } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
export const CLI_SRC = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
export const BIN = fileURLToPath(new URL('../bin/cellstack.js', import.meta.url));
export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** The CLI from source, as the tests run it: node --conditions=@cellstack/source --import tsx src/cli.ts. */
export const nodeArgs = (args: string[]) => ['--conditions=@cellstack/source', '--import', require.resolve('tsx'), CLI_SRC, ...args];

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function start(args: string[], cwd = ROOT): { child: ChildProcess; done: Promise<Result> } {
  const child = spawn(process.execPath, nodeArgs(args), { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CELLSTACK_BACKEND: 'wasm' } });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<Result>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, done };
}

export const cli = (args: string[], cwd = ROOT) => start(args, cwd).done;

export const tmp = (prefix = 'cellstack-cli-') => mkdtempSync(join(tmpdir(), prefix));

export function spec(dir: string, name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** A tiny copy-task model: trains in a fraction of a second per step. */
export const TINY = `input [null, 10]
LSTM(4) -> dense(9, activation: softmax)
train {
  task: copy(lag: 2, symbols: 2)
  batch: 4
  steps: 6
  seed: 3
}
`;

export const readLines = (file: string) =>
  readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { step: number; loss: number });

export const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Both chart files exist: SVG text from vega, and a PNG by its magic bytes. */
export function expectChart(base: string) {
  expect(existsSync(`${base}.svg`)).toBe(true);
  const svg = readFileSync(`${base}.svg`, 'utf8');
  expect(svg.startsWith('<svg')).toBe(true);
  expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  expect([...readFileSync(`${base}.png`).subarray(0, 8)]).toEqual(PNG_MAGIC);
}

export async function waitFor(cond: () => boolean, ms = 60000) {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const noStack = (r: Result) => expect(r.stderr).not.toMatch(/\n\s+at /);
