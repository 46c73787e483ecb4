#!/usr/bin/env node
/**
 * Build every fused kernel: packages/<pkg>/kernel/<name>.c → kernel/<name>.wasm, with
 * clang's wasm32 target (Debian: apt-get install clang lld). The .wasm files are
 * committed so users need no toolchain; `--check` rebuilds into a temp folder and fails
 * when a committed file differs from what its source builds to.
 *
 *   node tools/kernels/build.mjs           rebuild all
 *   node tools/kernels/build.mjs --check   verify the committed .wasm files are current
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const include = path.join(root, 'packages/core/kernel');
export const FLAGS = ['--target=wasm32', '-O3', '-msimd128', '-mbulk-memory', '-nostdlib', '-fno-math-errno', '-Wall', '-Werror',
  `-I${include}`, '-Wl,--no-entry', '-Wl,--export=__heap_base', '-Wl,--strip-all'];

// Modules that run on tfjs-backend-wasm's heap import its memory, so they may own none:
// a stack frame is a compile error (-Wframe-larger-than=0) and a data section fails below.
const HEAP_MODULES = new Set(['heap-matmul.c', 'heap-adam.c']);
const HEAP_FLAGS = ['-Wl,--import-memory', '-Wframe-larger-than=0', '-DCS_HEAP_MODULE'];

/** The ids of a wasm binary's sections (11: data). */
function sectionIds(bytes) {
  const ids = [];
  for (let p = 8; p < bytes.length; ) {
    ids.push(bytes[p++]);
    let size = 0;
    for (let shift = 0, b = 128; b & 128; shift += 7) size += ((b = bytes[p++]) & 127) * 2 ** shift;
    p += size;
  }
  return ids;
}

const check = process.argv.includes('--check');
const sources = readdirSync(path.join(root, 'packages'))
  .map((p) => path.join(root, 'packages', p, 'kernel'))
  .filter((d) => existsSync(d))
  .flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.c')).map((f) => path.join(d, f)));

const clang = process.env.CLANG ?? 'clang';
try {
  execFileSync(clang, ['--version'], { stdio: 'ignore' });
} catch {
  console.error(`kernels: '${clang}' not found. Install clang and lld (Debian: apt-get install clang lld) or set CLANG.`);
  process.exit(2);
}
const tmp = check ? mkdtempSync(path.join(tmpdir(), 'kernels-')) : undefined;
let stale = 0;
for (const src of sources) {
  const target = src.replace(/\.c$/, '.wasm');
  const out = tmp ? path.join(tmp, path.basename(target)) : target;
  const heap = HEAP_MODULES.has(path.basename(src));
  execFileSync(clang, [...FLAGS, ...(heap ? HEAP_FLAGS : []), src, '-o', out], { stdio: 'inherit' });
  const rel = path.relative(root, target);
  if (heap && sectionIds(readFileSync(out)).includes(11)) {
    console.error(`kernels: ${rel} has a data section, but it runs on tfjs's heap and may own no memory`);
    process.exit(1);
  }
  if (!check) console.log(`built ${rel}`);
  else if (!existsSync(target) || !readFileSync(target).equals(readFileSync(out))) {
    console.error(`kernels: ${rel} is not what ${path.relative(root, src)} builds to: run \`npm run kernels\` and commit the result`);
    stale++;
  }
}
if (tmp) rmSync(tmp, { recursive: true, force: true });
if (check && !stale) console.log(`kernels: ${sources.length} committed .wasm files are current`);
process.exit(stale ? 1 : 0);
