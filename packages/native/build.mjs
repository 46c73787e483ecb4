#!/usr/bin/env node
/**
 * Build the addon: src/matmul.c → build/cellstack_native.node with the system C compiler
 * ($CC, else cc, gcc or clang) against Node-API's headers (the node-api-headers package).
 * Runs at install. Without a compiler or on an unsupported platform it prints why and
 * exits 0: @cellstack/core then keeps its wasm kernels. CELLSTACK_REQUIRE_NATIVE=1 makes
 * a failed build an error (CI).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, 'build', 'cellstack_native.node');
const strict = process.env.CELLSTACK_REQUIRE_NATIVE === '1';

function skip(why) {
  console.log(`@cellstack/native: not built (${why}); cellstack runs its wasm kernels.`);
  process.exit(strict ? 1 : 0);
}

if (process.platform === 'win32') skip('Windows builds are not supported yet');
if (process.arch !== 'x64' && process.arch !== 'arm64') skip(`no vector kernel for ${process.arch}`);

const compilers = [process.env.CC, 'cc', 'gcc', 'clang'].filter(Boolean);
const compiler = compilers.find((cc) => {
  try {
    execFileSync(cc, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});
if (!compiler) skip(`no C compiler found (tried ${compilers.join(', ')})`);

const include = createRequire(import.meta.url)('node-api-headers').include_dir;
const flags = ['-O3', '-ffp-contract=fast', '-fPIC', '-shared', '-pthread', '-Wall', '-Wextra', `-I${include}`];
if (process.platform === 'darwin') flags.push('-undefined', 'dynamic_lookup');
mkdirSync(path.dirname(out), { recursive: true });
// Compile beside the target and rename, so a failed build never leaves a broken addon.
const tmp = `${out}.${process.pid}.tmp`;
try {
  execFileSync(compiler, [...flags, path.join(here, 'src', 'matmul.c'), '-o', tmp], { stdio: ['ignore', 'inherit', 'inherit'] });
  renameSync(tmp, out);
} catch {
  rmSync(tmp, { force: true });
  skip(`${compiler} failed on src/matmul.c`);
}
console.log(`@cellstack/native: built ${path.relative(here, out)} with ${compiler}`);
