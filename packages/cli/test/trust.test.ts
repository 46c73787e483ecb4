import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, ROOT, spec, tmp, TINY } from './helpers.js';

/**
 * A downloaded folder that allows its own package in its own config and carries it in
 * its own node_modules: the package writes a marker file the moment it is imported.
 */
function foreignFolder(): { dir: string; marker: string; file: string } {
  const dir = tmp('cellstack-foreign-');
  writeFileSync(join(dir, 'cellstack.config.json'), '{"plugins": ["marker-cell"]}');
  writeFileSync(join(dir, 'package.json'), '{"name": "downloaded", "cellstack": {"plugins": ["marker-cell"]}}');
  const pkg = join(dir, 'node_modules', 'marker-cell');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, 'package.json'), '{"name": "marker-cell", "type": "module", "main": "index.js"}');
  writeFileSync(join(pkg, 'index.js'), "import { writeFileSync } from 'node:fs';\nwriteFileSync(new URL('../../IMPORTED', import.meta.url), 'ran');\nexport const cells = [];\n");
  return { dir, marker: join(dir, 'IMPORTED'), file: spec(dir, 'model.rnn', `use "marker-cell"\n${TINY}`) };
}

describe('the trust boundary of `use`: only the user allows code', () => {
  let foreign: ReturnType<typeof foreignFolder>;
  let user: string;
  beforeAll(() => {
    foreign = foreignFolder();
    // The user's own project: the folder the commands run in; its package.json makes it the project root.
    user = tmp('cellstack-user-');
    writeFileSync(join(user, 'package.json'), '{"name": "mine"}');
  });
  afterAll(() => {
    rmSync(foreign.dir, { recursive: true, force: true });
    rmSync(user, { recursive: true, force: true });
  });

  it.each([
    ['check', (f: string) => ['check', f]],
    ['summary', (f: string) => ['summary', f]],
    ['train', (f: string) => ['train', f, '--steps', '1', '--out', join(user, 'run')]],
  ])("%s imports nothing when only the spec's own folder allows the package", async (_name, args) => {
    const r = await cli(args(foreign.file), user);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${foreign.file}:1:5: error: package 'marker-cell' is not allowed to load code here`);
    expect(r.stderr).toContain('a config that comes with the spec is not read');
    expect(existsSync(foreign.marker)).toBe(false);
  });

  it("imports it with --allow, or when the user's own project config names it", async () => {
    const allowed = await cli(['check', foreign.file, '--allow', 'marker-cell'], user);
    expect(allowed.stderr).toContain("'marker-cell' exports no cells"); // it ran: it just has no cells
    expect(existsSync(foreign.marker)).toBe(true);
    rmSync(foreign.marker);
    writeFileSync(join(user, 'cellstack.config.json'), '{"plugins": ["marker-cell"]}');
    try {
      const configured = await cli(['check', foreign.file], user);
      expect(configured.stderr).toContain("'marker-cell' exports no cells");
      expect(existsSync(foreign.marker)).toBe(true);
    } finally {
      rmSync(join(user, 'cellstack.config.json'));
    }
  });
});

describe('an allowed third-party cell through a whole run', () => {
  let project: string;
  beforeAll(() => {
    project = tmp('cellstack-third-party-');
    writeFileSync(join(project, 'package.json'), '{"name": "mine"}');
    mkdirSync(join(project, 'node_modules'));
    // As `npm install` would link it; the fixture finds @cellstack/core from its real path in the repository.
    symlinkSync(join(ROOT, 'packages', 'dsl', 'test', 'fixtures', 'third-party-cell'), join(project, 'node_modules', 'third-party-cell'), 'dir');
    spec(project, 'leaky.rnn', `use "third-party-cell"\n${TINY.replace('LSTM(4)', 'Leaky(4)').replace('steps: 6', 'steps: 4')}`);
  });
  afterAll(() => rmSync(project, { recursive: true, force: true }));

  // Regression: resume and probe loaded the saved model before the cell's package, so its layer class was unknown.
  it('trains, resumes and probes with --allow', async () => {
    const first = await cli(['train', 'leaky.rnn', '--out', 'run', '--checkpoint-every', '2', '--allow', 'third-party-cell', '--progress', 'none'], project);
    expect(first.stderr).not.toMatch(/error/);
    expect(first.code).toBe(0);
    const resumed = await cli(['train', '--resume', 'run', '--steps', '6', '--allow', 'third-party-cell', '--progress', 'none'], project);
    expect(resumed.stderr).toContain('resuming run at step 4/6');
    expect(resumed.code).toBe(0);
    const probed = await cli(['probe', 'run', '--signal', 'h', '--batch', '4', '--out', 'probe', '--allow', 'third-party-cell'], project);
    expect(probed.stderr).toBe('');
    expect(probed.stdout).toMatch(/\(Leaky\): h mean/);
    expect(probed.code).toBe(0);
    // Without the allowance the run's spec may not load its code: a clear error, not a stack trace.
    const refused = await cli(['probe', 'run', '--signal', 'h', '--out', 'probe'], project);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("package 'third-party-cell' is not allowed to load code here");
  });
});
