import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BIN, ROOT } from './helpers.js';

describe('bin/cellstack.js', () => {
  it('runs the CLI (built, or from source through tsx) with exit codes and no stack traces', () => {
    const r = spawnSync(process.execPath, [BIN, 'train', 'no/such/spec.rnn'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("error: cannot read spec 'no/such/spec.rnn': no such file\n");
    const usage = spawnSync(process.execPath, [BIN, 'train', '--steps', 'x'], { cwd: ROOT, encoding: 'utf8' });
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/^error: option '--steps <n>' argument 'x' is invalid/);
    expect(usage.stderr).not.toMatch(/\n\s+at /);
  });
});
