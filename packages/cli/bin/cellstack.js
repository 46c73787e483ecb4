#!/usr/bin/env node
// The `cellstack` command. Runs the built CLI (dist/, from `npm run build`); in a source
// checkout without a build it runs the TypeScript sources in a child process through tsx.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const built = new URL('../dist/cli.js', import.meta.url);
if (existsSync(fileURLToPath(built))) {
  await import(built.href);
} else {
  let tsx;
  try {
    tsx = createRequire(import.meta.url).resolve('tsx');
  } catch {
    process.stderr.write('error: @cellstack/cli is not built: run `npm run build` first\n');
    process.exit(70);
  }
  const src = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
  const child = spawn(process.execPath, ['--conditions=@cellstack/source', '--import', tsx, src, ...process.argv.slice(2)], { stdio: 'inherit' });
  // The child saves a checkpoint on Ctrl-C; pass signals on and wait for it.
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
  child.on('close', (code, signal) => process.exit(code ?? (signal === 'SIGINT' ? 130 : 1)));
}
