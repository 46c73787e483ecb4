import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineCell, init } from '@cellstack/core';
import { compile, compileToIR, DslError, isAllowed, loadUses, parse, readAllowList } from '@cellstack/dsl';
import { fixtureProject, toyRuntime, where } from './helpers.js';

const SPEC = 'use "third-party-cell"\ninput [6, 2]\nLeaky(5, decay: 0.25) x2 -> last -> dense(3)\n';

describe('use: third-party cell packages', () => {
  let project: Awaited<ReturnType<typeof fixtureProject>>;
  beforeAll(async () => {
    project = await fixtureProject({
      'third-party-cell': 'third-party-cell',
      'eager-cell': 'eager-cell',
      'broken-cell': 'broken-cell',
      '@cellstack/cell-nru': 'toy-cell-nru',
    });
  });
  afterAll(() => project.cleanup());
  const file = () => path.join(project.dir, 'model.rnn');

  it('loads an allowed package (--allow) and builds a model with its cell', async () => {
    const rt = toyRuntime();
    const { ir, model, diagnostics } = await compile(SPEC, { runtime: rt, file: file(), allow: ['third-party-cell'] });
    expect(diagnostics).toEqual([]);
    expect(rt.has('Leaky')).toBe(true);
    expect(ir.layers[0]).toEqual({ cell: 'Leaky', options: { units: 5, decay: 0.25 }, repeat: 2 });
    expect(model.layers.map((l) => l.getClassName())).toEqual(['InputLayer', 'cellstack.Leaky', 'cellstack.Leaky', 'Dense']);
    expect(model.countParams()).toBe(2 * 5 + 5 + (5 * 5 + 5) + 5 * 3 + 3);
  });

  it("checks the package's cells like any other (schema errors at their position)", async () => {
    const err = (await compile(SPEC.replace('0.25', '2'), { runtime: toyRuntime(), file: file(), allow: ['third-party-cell'] }).catch((e) => e)) as DslError;
    expect(where(err.diagnostics)).toEqual(['3:17 bad-option']);
    expect(err.diagnostics[0].message).toBe("Leaky option 'decay' must be a number in [0, 1] (got 2)");
  });

  it('refuses a package that is not allowed, at the use line:column, saying how to allow it, without importing it', async () => {
    const rt = toyRuntime();
    const src = 'input [6, 2]\nuse "eager-cell"\nLSTM(3)';
    const err = (await compile(src, { runtime: rt, file: file() }).catch((e) => e)) as DslError;
    expect(err).toBeInstanceOf(DslError);
    expect(where(err.diagnostics)).toEqual(['2:5 use-not-allowed']);
    const d = err.diagnostics[0];
    expect(d.message).toBe("package 'eager-cell' is not allowed to load code here");
    expect(d.hint).toMatch(/"plugins": \["eager-cell"\] in your project's cellstack\.config\.json/);
    expect(d.hint).toMatch(/--allow eager-cell/);
    expect((globalThis as { __eagerCellImported?: boolean }).__eagerCellImported).toBeUndefined();
  });

  it('refuses the third-party cell when not allowed, so its cell is then unknown', async () => {
    const rt = toyRuntime();
    const err = (await compile(SPEC, { runtime: rt, file: file(), allow: ['other-package'] }).catch((e) => e)) as DslError;
    expect(where(err.diagnostics)).toEqual(['1:5 use-not-allowed', '3:1 unknown-cell']);
    expect(rt.has('Leaky')).toBe(false);
  });

  it('reports a package that is not installed, exports no cells, or is not a package name — never throws', async () => {
    const src = 'use "not-installed-cell"\nuse "broken-cell"\nuse "../evil"\nuse "broken-cell"\n';
    const { ast } = parse(src, { file: file() });
    const ds = await loadUses(ast!, { runtime: toyRuntime(), allow: ['not-installed-cell', 'broken-cell', '../evil'], file: file() });
    expect(where(ds)).toEqual(['1:5 use-not-installed', '2:5 use-no-cells', '3:5 use-bad-name', '4:5 duplicate-use']);
    expect(ds[0].hint).toBe('install it: npm install not-installed-cell');
    expect(ds[1].message).toMatch(/'broken-cell' exports no cells: a cell package exports `cells`/);
    expect(ds[3].severity).toBe('warning');
  });

  it('reports a cell name already taken by another plugin', async () => {
    const rt = toyRuntime();
    rt.use(defineCell({
      name: 'NRU',
      description: 'a different NRU',
      schema: { type: 'object', properties: {}, additionalProperties: false },
      create: (_o, { inputSize }) => ({ state: { h: 1 }, outputSize: 1, params: { w: { shape: [inputSize, 1], init: init.zeros } }, step: (_x, s) => ({ output: s.h, state: s }) }),
    }));
    const { ast } = parse('use "@cellstack/cell-nru"', { file: file() });
    const ds = await loadUses(ast!, { runtime: rt, allow: ['@cellstack/*'], file: file() });
    expect(where(ds)).toEqual(['1:5 use-conflict']);
    expect(ds[0].message).toMatch(/^cannot register NRU from '@cellstack\/cell-nru': a cell named 'NRU' is already registered/);
  });
});

describe('the allow list', () => {
  let project: Awaited<ReturnType<typeof fixtureProject>>;
  afterAll(() => project?.cleanup());

  it('comes from cellstack.config.json or package.json "cellstack", found walking up to the project root and no further', async () => {
    project = await fixtureProject({ 'third-party-cell': 'third-party-cell' }, {
      'cellstack.config.json': JSON.stringify({ plugins: ['third-party-cell', '@acme/*'] }),
      'lib/src/.keep': '',
      'app/package.json': JSON.stringify({ name: 'app' }),
      'app/src/.keep': '',
      'other/package.json': JSON.stringify({ name: 'other', cellstack: { plugins: ['x-cell'] } }),
      'other/deep/.keep': '',
      'bad/cellstack.config.json': '{ "plugins": [1] }',
      'broken/cellstack.config.json': '{ nope',
      'proto/package.json': '{"cellstack": {"__proto__": {"plugins": ["evil"]}}}',
    });
    expect(await readAllowList(path.join(project.dir, 'lib', 'src'))).toEqual(['third-party-cell', '@acme/*']);
    // app/ has a package.json without a `cellstack` key: it is the project root, and the enclosing config is not read.
    expect(await readAllowList(path.join(project.dir, 'app', 'src'))).toEqual([]);
    expect(await readAllowList(path.join(project.dir, 'other', 'deep'))).toEqual(['x-cell']);
    expect(await readAllowList(path.join(project.dir, 'proto'))).toEqual([]);
    await expect(readAllowList(path.join(project.dir, 'bad'))).rejects.toThrow(/bad-config|must be a list of package names/);
    const err = (await readAllowList(path.join(project.dir, 'broken')).catch((e) => e)) as DslError;
    expect(err.diagnostics[0]).toMatchObject({ code: 'bad-config', line: 1, column: 1 });
    expect(err.diagnostics[0].file).toBe(path.join(project.dir, 'broken', 'cellstack.config.json'));
  });

  it("compile reads the user's project config (the project option, default the working directory), never the spec's", async () => {
    const specFile = path.join(project.dir, 'lib', 'src', 'model.rnn');
    // The spec's own folder tree allows the package, but the user's project (the repository, where the tests run) does not.
    const refused = (await compileToIR(SPEC, { runtime: toyRuntime(), file: specFile }).catch((e) => e)) as DslError;
    expect(where(refused.diagnostics)).toEqual(['1:5 use-not-allowed', '3:1 unknown-cell']);
    const { ir } = await compileToIR(SPEC, { runtime: toyRuntime(), file: specFile, project: path.join(project.dir, 'lib') });
    expect(ir.layers[0]).toMatchObject({ cell: 'Leaky' });
    // a malformed config of the project is a diagnostic too
    const err = (await compileToIR(SPEC, { runtime: toyRuntime(), file: specFile, project: path.join(project.dir, 'broken') }).catch((e) => e)) as DslError;
    expect(err.diagnostics.map((d) => d.code)).toContain('bad-config');
  });

  it('matches exact names and whole scopes', () => {
    expect(isAllowed('third-party-cell', ['third-party-cell'])).toBe(true);
    expect(isAllowed('@acme/cell-x', ['@acme/*'])).toBe(true);
    expect(isAllowed('@acme-evil/cell-x', ['@acme/*'])).toBe(false);
    expect(isAllowed('third-party-cell-2', ['third-party-cell'])).toBe(false);
    expect(isAllowed('x', [])).toBe(false);
  });
});

describe('the trust boundary: a spec that comes with its own config and node_modules', () => {
  let foreign: string;
  let user: Awaited<ReturnType<typeof fixtureProject>>;
  const marker = () => path.join(foreign, 'IMPORTED');
  beforeAll(async () => {
    // A downloaded folder: its config allows its own package, which writes a file the moment it is imported.
    foreign = await mkdtemp(path.join(tmpdir(), 'cellstack-foreign-'));
    await writeFile(path.join(foreign, 'cellstack.config.json'), '{"plugins": ["marker-cell"]}');
    await writeFile(path.join(foreign, 'package.json'), '{"name": "foreign", "cellstack": {"plugins": ["marker-cell"]}}');
    await mkdir(path.join(foreign, 'node_modules', 'marker-cell'), { recursive: true });
    await writeFile(path.join(foreign, 'node_modules', 'marker-cell', 'package.json'), '{"name": "marker-cell", "type": "module", "main": "index.js"}');
    await writeFile(path.join(foreign, 'node_modules', 'marker-cell', 'index.js'), "import { writeFileSync } from 'node:fs';\nwriteFileSync(new URL('../../IMPORTED', import.meta.url), 'ran');\nexport const cells = [];\n");
    user = await fixtureProject({}, { 'package.json': '{"name": "mine", "cellstack": {"plugins": ["marker-cell"]}}' });
  });
  afterAll(async () => {
    await rm(foreign, { recursive: true, force: true });
    await user.cleanup();
  });
  const src = 'use "marker-cell"\ninput [4, 1]\nLSTM(2) -> last -> dense(1)\n';

  it('imports nothing when only its own config allows the package', async () => {
    const err = (await compileToIR(src, { runtime: toyRuntime(), file: path.join(foreign, 'model.rnn') }).catch((e) => e)) as DslError;
    expect(where(err.diagnostics)).toEqual(['1:5 use-not-allowed']);
    expect(existsSync(marker())).toBe(false);
  });

  it("imports it when the user's own project config names it, or the caller allows it", async () => {
    const viaProject = (await compileToIR(src, { runtime: toyRuntime(), file: path.join(foreign, 'model.rnn'), project: user.dir }).catch((e) => e)) as DslError;
    expect(where(viaProject.diagnostics)).toEqual(['1:5 use-no-cells']); // it was imported: it just exports no cells
    expect(existsSync(marker())).toBe(true);
    await rm(marker());
    const viaAllow = (await compileToIR(src, { runtime: toyRuntime(), file: path.join(foreign, 'model.rnn'), allow: ['marker-cell'] }).catch((e) => e)) as DslError;
    expect(where(viaAllow.diagnostics)).toEqual(['1:5 use-no-cells']);
  });
});
