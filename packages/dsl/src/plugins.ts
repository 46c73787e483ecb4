import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CellstackError, clip, type CellPlugin, type Runtime } from '@cellstack/core';
import type { Span, SpecAST } from './ast.js';
import { DEFAULT_FILE, diagnostic, DslError, FILE_START, sortDiagnostics, type Diagnostic } from './diagnostics.js';

/** npm package names, scoped or not; never paths (`use` loads installed packages only). */
const PACKAGE_NAME = /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/i;
/** npm's own limit on a package name's length. */
const MAX_NAME = 214;

/** Is `pkg` on the allow list? Entries are package names or whole scopes (`@acme/*`). */
export function isAllowed(pkg: string, allow: readonly string[]): boolean {
  return allow.some((a) => a === pkg || (a.endsWith('/*') && a.startsWith('@') && pkg.startsWith(a.slice(0, -1))));
}

async function readJson(file: string): Promise<unknown> {
  const text = await fs.readFile(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new DslError([diagnostic(file, FILE_START, 'bad-config', `invalid JSON: ${(e as Error).message}`)]);
  }
}

function pluginList(value: unknown, file: string, where: string): string[] {
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
  throw new DslError([diagnostic(file, FILE_START, 'bad-config', `${where} must be a list of package names, e.g. ["@cellstack/cell-nru"]`)]);
}

/**
 * The user's plugin allow list: `plugins` of the nearest cellstack.config.json, or
 * `cellstack.plugins` of the nearest package.json that has a `cellstack` key, walking up
 * from `dir` (the user's working directory) to the project root — the first folder with
 * a package.json — and no further: an enclosing project's config is not this project's.
 * Empty when there is neither. Throws DslError for a malformed file.
 */
export async function readAllowList(dir: string): Promise<string[]> {
  let d = path.resolve(dir);
  for (;;) {
    const config = path.join(d, 'cellstack.config.json');
    if (existsSync(config)) {
      const json = (await readJson(config)) as { plugins?: unknown } | null;
      return json && typeof json === 'object' && Object.hasOwn(json, 'plugins') ? pluginList(json.plugins, config, '"plugins"') : [];
    }
    const pkg = path.join(d, 'package.json');
    if (existsSync(pkg)) {
      const json = (await readJson(pkg)) as { cellstack?: { plugins?: unknown } } | null;
      const section = json && typeof json === 'object' && Object.hasOwn(json, 'cellstack') ? json.cellstack : undefined;
      return section && typeof section === 'object' && Object.hasOwn(section, 'plugins') ? pluginList(section.plugins, pkg, '"cellstack": {"plugins"}') : [];
    }
    const up = path.dirname(d);
    if (up === d) return [];
    d = up;
  }
}

/** Export conditions to honour: Node's own plus any `--conditions` the process runs with. */
function conditions(): string[] {
  const args = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  const extra: string[] = [];
  args.forEach((a, i) => {
    const m = /^--conditions=(.+)$/.exec(a) ?? /^-C(.+)$/.exec(a);
    if (m) extra.push(m[1]);
    else if ((a === '--conditions' || a === '-C') && args[i + 1]) extra.push(args[i + 1]);
  });
  return [...extra, 'import', 'node', 'default'];
}

function fromExports(exp: unknown, conds: string[]): string | undefined {
  if (typeof exp === 'string') return exp;
  if (Array.isArray(exp)) {
    for (const e of exp) {
      const r = fromExports(e, conds);
      if (r) return r;
    }
    return undefined;
  }
  if (!exp || typeof exp !== 'object') return undefined;
  const obj = exp as Record<string, unknown>;
  if (Object.hasOwn(obj, '.')) return fromExports(obj['.'], conds);
  if (Object.keys(obj).some((k) => k.startsWith('.'))) return undefined;
  for (const [k, v] of Object.entries(obj)) {
    if (!conds.includes(k)) continue;
    const r = fromExports(v, conds);
    if (r) return r;
  }
  return undefined;
}

/**
 * Resolve an installed package's ESM entry as Node would import it: the nearest
 * node_modules/<pkg> walking up from `from`, then its `exports` (import conditions)
 * or `main`. Undefined when it is not installed.
 */
export async function resolvePackage(pkg: string, from: string): Promise<{ dir: string; entry: string } | undefined> {
  let d = path.resolve(from);
  for (;;) {
    const dir = path.join(d, 'node_modules', pkg);
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest)) {
      const json = (await readJson(manifest).catch(() => ({}))) as { exports?: unknown; main?: string };
      const rel = (json.exports !== undefined ? fromExports(json.exports, conditions()) : undefined) ?? json.main ?? 'index.js';
      return { dir, entry: path.resolve(dir, rel) };
    }
    const up = path.dirname(d);
    if (up === d) return undefined;
    d = up;
  }
}

const isPlugin = (p: unknown): p is CellPlugin => !!p && typeof p === 'object' && (p as CellPlugin).kind === 'cellstack-cell';

/**
 * Load every `use "<package>"` of a file into the runtime: only packages on the allow
 * list are imported (loading code is an explicit act); each must export `cells`, a
 * list of cell plugins, all of which are registered. An allowed package is resolved
 * from `project` (the user's project) first, then from `resolveFrom` (the spec's
 * folder); packages in `preloaded` are already registered and never imported again.
 * Every problem is a diagnostic at the `use` line — never a throw.
 */
export async function loadUses(
  ast: SpecAST,
  opts: { runtime: Runtime; allow: string[]; file?: string; resolveFrom?: string; project?: string; preloaded?: readonly string[] },
): Promise<Diagnostic[]> {
  const file = opts.file ?? ast.file ?? DEFAULT_FILE;
  const project = path.resolve(opts.project ?? process.cwd());
  const from = opts.resolveFrom ?? (file !== DEFAULT_FILE ? path.dirname(path.resolve(file)) : project);
  const out: Diagnostic[] = [];
  const report = (span: Span, code: string, message: string, hint?: string, severity?: 'warning') => out.push(diagnostic(file, span, code, message, hint, severity));
  const done = new Set<string>();

  for (const use of ast.uses) {
    const pkg = use.package;
    const shown = clip(pkg);
    const at = use.packageSpan;
    if (done.has(pkg)) {
      report(at, 'duplicate-use', `'${shown}' is already used above`, 'remove this line', 'warning');
      continue;
    }
    done.add(pkg);
    if (pkg.length > MAX_NAME || !PACKAGE_NAME.test(pkg)) {
      report(at, 'use-bad-name', `use takes an installed package name such as "@cellstack/cell-nru" (got ${clip(JSON.stringify(pkg))})`, 'paths are not loaded; publish or install the cells as a package');
      continue;
    }
    if (opts.preloaded?.includes(pkg)) continue;
    if (!isAllowed(pkg, opts.allow)) {
      report(at, 'use-not-allowed', `package '${pkg}' is not allowed to load code here`,
        `allow it with "plugins": ["${pkg}"] in your project's cellstack.config.json (or "cellstack": {"plugins": [...]} in its package.json), or pass --allow ${pkg}; a config that comes with the spec is not read`);
      continue;
    }
    const resolved = (await resolvePackage(pkg, project)) ?? (await resolvePackage(pkg, from));
    if (!resolved) {
      const where = from === project || from.startsWith(project + path.sep) ? from : `${project} or ${from}`;
      report(at, 'use-not-installed', `package '${pkg}' is not installed (no node_modules/${pkg} from ${where} up)`, `install it: npm install ${pkg}`);
      continue;
    }
    let mod: Record<string, unknown>;
    try {
      const real = await fs.realpath(resolved.entry);
      mod = (await import(pathToFileURL(real).href)) as Record<string, unknown>;
    } catch (e) {
      const why = existsSync(resolved.entry) ? (e as Error).message?.split('\n')[0] : `its entry ${resolved.entry} does not exist (is the package built?)`;
      report(at, 'use-failed', `could not load '${pkg}': ${why}`);
      continue;
    }
    const cells = mod.cells ?? (mod.default as { cells?: unknown } | undefined)?.cells;
    if (!Array.isArray(cells) || cells.length === 0 || !cells.every(isPlugin)) {
      report(at, 'use-no-cells', `'${pkg}' exports no cells: a cell package exports \`cells\`, a list of defineCell plugins`);
      continue;
    }
    for (const plugin of cells) {
      try {
        opts.runtime.use(plugin);
      } catch (e) {
        report(at, 'use-conflict', `cannot register ${plugin.name} from '${pkg}': ${e instanceof CellstackError ? e.detail : (e as Error).message}`, e instanceof CellstackError ? e.hint : undefined);
      }
    }
  }
  return sortDiagnostics(out);
}
