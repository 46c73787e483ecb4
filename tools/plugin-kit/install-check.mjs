#!/usr/bin/env node
// The plugin guide's dev loop as a test: runs the `sh` blocks of examples/plugin-mgu/README.md's
// "Dev loop" section verbatim (bash -e, from the repository root; mktemp puts the packs and the app in a
// fresh folder outside the repository), then checks what they did. CI runs it after `npm run build`.
// Usage: node tools/plugin-kit/install-check.mjs [--keep]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import console from 'node:console';
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const guide = join(root, 'examples/plugin-mgu/README.md');
const text = readFileSync(guide, 'utf8');
const section = text.slice(text.indexOf('## Dev loop'), text.indexOf('\n## ', text.indexOf('## Dev loop') + 1));
const blocks = [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
if (blocks.length === 0) fail(`${relative(root, guide)}: no sh blocks in its "Dev loop" section`);

const work = realpathSync(mkdtempSync(join(tmpdir(), 'cellstack-plugin-kit-')));
const appFile = join(work, 'app-path');
const script = ['set -euo pipefail -x', ...blocks, `printf %s "$APP" > ${JSON.stringify(appFile)}`].join('\n');
writeFileSync(join(work, 'dev-loop.sh'), script);
console.log(`running the ${blocks.length} sh blocks of ${relative(root, guide)} ("Dev loop") in ${work}`);
const run = spawnSync('bash', [join(work, 'dev-loop.sh')], { cwd: root, env: { ...process.env, TMPDIR: work, CELLSTACK_PLUGINS: '' }, encoding: 'utf8', maxBuffer: 1 << 28 });
const log = `${run.stdout}\n${run.stderr}`;
writeFileSync(join(work, 'dev-loop.log'), log);
if (run.status !== 0) fail(`the dev loop failed (exit ${run.status}); log:\n${log.slice(-6000)}`);
const app = readFileSync(appFile, 'utf8');
if (relative(root, app).split(/[\\/]/)[0] !== '..') fail(`the app ${app} is inside the repository`);

const checks = [];
const check = (what, ok, detail = '') => {
  checks.push(what);
  if (!ok) fail(`${what}${detail ? `: ${detail}` : ''}`);
  console.log(`ok  ${what}`);
};
// One copy of tfjs-core and of @cellstack/core in the app: the plugin shares the app's.
const copies = (name) => {
  const found = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const p = join(dir, e.name);
      if (e.name.startsWith('@')) walk(p);
      else if (relative(join(app, 'node_modules'), p).replaceAll('\\', '/').endsWith(name)) found.push(p);
      else if (existsSync(join(p, 'node_modules'))) walk(join(p, 'node_modules'));
    }
  };
  walk(join(app, 'node_modules'));
  return found;
};
for (const name of ['@tensorflow/tfjs-core', '@cellstack/core', 'cellstack-plugin-mgu']) {
  const found = copies(name);
  check(`one copy of ${name} in the app`, found.length === 1, found.join(', ') || 'none');
}
check('`cellstack train` ran MGU traced', /^layer mgu_0 \(MGU\): traced$/m.test(log));
const runJson = JSON.parse(readFileSync(join(app, 'runs/mgu/run.json'), 'utf8'));
check('run.json after --resume: completed, 30 steps', runJson.status === 'completed' && runJson.steps === 30, JSON.stringify({ status: runJson.status, steps: runJson.steps }));
check('run.json names the traced path', JSON.stringify(runJson.kernels?.layers) === JSON.stringify([{ ...runJson.kernels.layers[0], cell: 'MGU', path: 'traced' }]), JSON.stringify(runJson.kernels));
check('`cellstack probe` recorded the forget gate', /\(MGU\): forget mean 0\.\d{3}, units/.test(log) && existsSync(join(app, 'runs/probe-mgu/probe-forget.json')));
check('`cellstack cells mgu` says traced', /^ {2}path \(defaults, cpu\): traced$/m.test(log));
const saved = readFileSync(join(app, 'saved.txt'), 'utf8').trim().split('\n');
const loaded = readFileSync(join(app, 'loaded.txt'), 'utf8').trim();
check('save.mjs trained MGU traced', saved[0] === 'mgu_0: traced', saved[0]);
const values = JSON.parse(saved.at(-1)).flat();
check('a fresh process loads the saved model: identical predictions', loaded === saved.at(-1) && values.length === 1 && values.every(Number.isFinite), `${saved.at(-1)} vs ${loaded}`);

if (!process.argv.includes('--keep')) rmSync(work, { recursive: true, force: true });
console.log(`plugin kit: ${checks.length} checks passed${process.argv.includes('--keep') ? ` (kept ${work})` : ''}`);

function fail(message) {
  console.error(`plugin kit: ${message}`);
  process.exit(1);
}
