import { mkdir, writeFile } from 'node:fs/promises';
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
    expect(d.hint).toMatch(/"plugins": \["eager-cell"\] in cellstack\.config\.json/);
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

  it('comes from cellstack.config.json or package.json "cellstack", found walking up; the nearest wins', async () => {
    project = await fixtureProject({ 'third-party-cell': 'third-party-cell' }, {
      'cellstack.config.json': JSON.stringify({ plugins: ['third-party-cell', '@acme/*'] }),
      'app/package.json': JSON.stringify({ name: 'app' }),
      'app/src/.keep': '',
      'other/package.json': JSON.stringify({ name: 'other', cellstack: { plugins: ['x-cell'] } }),
      'other/deep/.keep': '',
      'bad/cellstack.config.json': '{ "plugins": [1] }',
      'broken/cellstack.config.json': '{ nope',
    });
    expect(await readAllowList(path.join(project.dir, 'app', 'src'))).toEqual(['third-party-cell', '@acme/*']);
    expect(await readAllowList(path.join(project.dir, 'other', 'deep'))).toEqual(['x-cell']);
    await expect(readAllowList(path.join(project.dir, 'bad'))).rejects.toThrow(/bad-config|must be a list of package names/);
    const err = (await readAllowList(path.join(project.dir, 'broken')).catch((e) => e)) as DslError;
    expect(err.diagnostics[0]).toMatchObject({ code: 'bad-config', line: 1, column: 1 });
    expect(err.diagnostics[0].file).toBe(path.join(project.dir, 'broken', 'cellstack.config.json'));
  });

  it("compile reads it from the spec file's folder, so the config alone allows the package", async () => {
    const specDir = path.join(project.dir, 'app', 'src');
    const rt = toyRuntime();
    const { ir } = await compileToIR(SPEC, { runtime: rt, file: path.join(specDir, 'model.rnn') });
    expect(ir.layers[0]).toMatchObject({ cell: 'Leaky' });
    // a malformed config is a diagnostic too
    await mkdir(path.join(project.dir, 'broken', 'x'), { recursive: true });
    await writeFile(path.join(project.dir, 'broken', 'x', 'm.rnn'), SPEC);
    const err = (await compileToIR(SPEC, { runtime: toyRuntime(), file: path.join(project.dir, 'broken', 'x', 'm.rnn') }).catch((e) => e)) as DslError;
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
