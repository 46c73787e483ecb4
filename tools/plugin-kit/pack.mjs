#!/usr/bin/env node
// Packs every published cellstack package (packages/*, not private) into one folder as the tarballs
// `npm publish` would upload, so an app outside the repository can install them as from the registry.
// Usage: node tools/plugin-kit/pack.mjs <folder>   (after `npm run build`: the tarballs hold dist/)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import console from 'node:console';
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dest = process.argv[2];
if (!dest) {
  console.error('usage: node tools/plugin-kit/pack.mjs <folder>');
  process.exit(2);
}
mkdirSync(dest, { recursive: true });
for (const name of readdirSync(join(root, 'packages')).sort()) {
  const dir = join(root, 'packages', name);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  if (pkg.private) continue;
  if (pkg.main && !existsSync(join(dir, pkg.main))) {
    console.error(`${pkg.name}: ${pkg.main} is missing; run \`npm run build\` first`);
    process.exit(1);
  }
  const file = execFileSync('npm', ['pack', '--silent', '--pack-destination', resolve(dest)], { cwd: dir, encoding: 'utf8' }).trim();
  console.log(join(dest, file));
}
