import type { CellPlugin } from './cell.js';
import { CellstackError, clip, closest, problemOf, type Problem } from './errors.js';
import { irStructure, isCellLayer, layerSchemas, LIMITS, type CellLayerIR, type LayerIR, type ModelIR } from './ir.js';

/** The error for a name no registered cell has: a "did you mean" hint and the list of known cells. */
function unknownCell(cells: ReadonlyMap<string, CellPlugin>, name: string, path: string): CellstackError {
  const names = [...cells.keys()];
  const guess = closest(name, names);
  return new CellstackError(path, `unknown cell '${clip(name)}'; registered cells: ${names.join(', ') || '(none)'}`, guess ? `did you mean ${guess}?` : 'install and register its plugin with runtime.use()', 'unknown-cell');
}

/** Look up a cell by name, with a "did you mean" hint and the list of known cells. */
export function findCell(cells: ReadonlyMap<string, CellPlugin>, name: string, path: string): CellPlugin {
  const plugin = cells.get(name);
  if (plugin) return plugin;
  throw unknownCell(cells, name, path);
}

export interface ResolveOptions {
  /** Parameter budget of the whole model (default LIMITS.maxParams); raise it for bigger models. */
  maxParams?: number;
}

const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const paramsOf = (instance: { params: Record<string, { shape: number[] }> }) => Object.values(instance.params).reduce((a, p) => a + count(p.shape), 0);
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Every problem a thrown error stands for (a schema error carries all of its call's on `.all`). */
function problemsOfError(e: unknown, path: string): Problem[] {
  if (!(e instanceof CellstackError)) return [{ path, code: 'bad-value', message: clip(e instanceof Error ? e.message : String(e), 300) }];
  return ((e as CellstackError & { all?: CellstackError[] }).all ?? [e]).map(problemOf);
}

/**
 * The one validation pass over an IR: structure, cell names and options (each cell's
 * schema and its own cross-option check), layer order, the layer count and the
 * parameter budget — all from shapes, before anything is allocated. Collects every
 * problem rather than stopping at the first; once a layer has a problem its output size
 * is unknown, so later layers get only the checks that need no shape. Returns the
 * problems (one per path, in layer order) and, when there are none, the IR with every
 * default filled in.
 */
export function inspectIR(irIn: unknown, cells: ReadonlyMap<string, CellPlugin>, opts: ResolveOptions = {}): { problems: Problem[]; ir?: ModelIR } {
  const maxParams = opts.maxParams ?? LIMITS.maxParams;
  const structure = irStructure(irIn);
  const problems = structure.errors.map(problemOf);
  const ir = structure.ir;
  if (!ir) return { problems };
  const badAt = (prefix: string) => problems.some((p) => p.path === prefix || p.path.startsWith(`${prefix}.`) || p.path.startsWith(`${prefix}[`));

  // A repeat out of range is a problem of its own, not counted here.
  const repeatOf = (l: LayerIR, i: number) => (isObject(l) && isCellLayer(l) && !badAt(`layers[${i}].repeat`) ? (l.repeat ?? 1) : 1);
  const depth = ir.layers.reduce((a, l, i) => a + repeatOf(l, i), 0);
  if (depth > LIMITS.maxLayers) {
    problems.push({ path: 'layers', code: 'too-large', message: `the model has ${depth} layers (repeats counted); at most ${LIMITS.maxLayers}`, hint: 'fewer or smaller repeats' });
  }

  // Shape (and parameter) tracking stops once a layer's output size cannot be known.
  let known = !badAt('input');
  let [T, F] = known ? ir.input.shape : [null, 0];
  let pooled: { type: string; path: string } | undefined;
  let params = 0;
  let overBudget = false;
  const budget = (path: string, added: number) => {
    params += added;
    if (params > maxParams && !overBudget) {
      overBudget = true;
      problems.push({
        path,
        code: 'too-large',
        message: `the model reaches ${Math.round(params).toLocaleString('en-US')} parameters here, over the budget of ${maxParams.toLocaleString('en-US')}`,
        hint: "use smaller layers, or raise the budget (maxParams; the CLI's --max-params)",
      });
    }
  };

  /** A cell layer: name, order, options (against the shape when known), parameters. */
  const cellLayer = (layer: CellLayerIR, path: string) => {
    if (typeof layer.cell !== 'string') return (known = false);
    const plugin = cells.get(layer.cell);
    if (!plugin) {
      problems.push(problemOf(unknownCell(cells, layer.cell, `${path}.cell`)));
      return (known = false);
    }
    if (pooled) problems.push({ path, code: 'cell-after-pooling', message: `${clip(layer.cell)} needs a sequence, but it was already pooled over time by '${pooled.type}'`, hint: 'move the pooling after the last cell', related: pooled.path });
    if (layer.bidirectional && layer.stateful) {
      problems.push({ path: `${path}.stateful`, code: 'bad-value', message: 'a bidirectional layer cannot be stateful: its backward direction reads the whole sequence', hint: 'drop one of the two' });
    }
    if (layer.options !== undefined && !isObject(layer.options)) return (known = false); // a structural problem already
    const ctx = known ? { inputSize: F, timesteps: T } : undefined;
    try {
      layer.options = plugin.resolveOptions(layer.options ?? {}, `${path}.options`, ctx) as Record<string, unknown>;
      if (!ctx || badAt(path)) return (known = false);
      const first = plugin.create(layer.options as never, ctx);
      // A bidirectional layer holds two copies of the cell, one per direction.
      const directions = layer.bidirectional ? 2 : 1;
      budget(path, directions * paramsOf(first));
      const out = layer.bidirectional?.merge === 'concat' ? 2 * first.outputSize : first.outputSize;
      const repeat = layer.repeat ?? 1;
      // Later copies in a repeat see the layer's own output size.
      if (repeat > 1) {
        const later = { inputSize: out, timesteps: T };
        plugin.resolveOptions(layer.options, `${path}.options`, later);
        budget(path, (repeat - 1) * directions * paramsOf(plugin.create(layer.options as never, later)));
      }
      F = out;
    } catch (e) {
      problems.push(...problemsOfError(e, `${path}.options`));
      known = false;
    }
  };

  /** A built-in layer: order, shape and parameters (its fields were checked with the structure). */
  const builtinLayer = (layer: Exclude<LayerIR, CellLayerIR>, i: number, path: string) => {
    const valid = !badAt(path);
    switch (layer.type) {
      case 'dense':
        if (valid && known) budget(path, F * layer.units + (layer.useBias === false ? 0 : layer.units));
        F = layer.units;
        known &&= valid;
        return;
      case 'embedding':
        if (i !== 0) problems.push({ path, code: 'embedding-not-first', message: 'an embedding must be the first layer', hint: 'move it to the start of the pipeline' });
        else if (known && F !== 1) problems.push({ path: 'input.shape[1]', code: 'embedding-input', message: `an embedding reads one token id per step: the input must be [timesteps, 1] (got ${F} features)` });
        if (valid && known) budget(path, layer.vocab * layer.dim);
        F = layer.dim;
        known &&= valid;
        return;
      case 'layerNorm':
        if (valid && known) budget(path, 2 * F);
        return;
      case 'masking':
        if (pooled) problems.push({ path, code: 'masking-after-pooling', message: `'masking' marks padded time steps, but they were already pooled over time by '${pooled.type}'`, hint: 'put it before the first cell', related: pooled.path });
        return;
      case 'last':
      case 'mean':
        if (pooled) problems.push({ path, code: 'pooling-twice', message: `'${layer.type}' pools over time, but it was already pooled by '${pooled.type}'`, hint: 'pool once, after the last cell', related: pooled.path });
        pooled = { type: layer.type, path };
        T = null;
        return;
      default:
        return;
    }
  };

  ir.layers.forEach((layer, i) => {
    const path = `layers[${i}]`;
    if (!isObject(layer)) known = false;
    else if (isCellLayer(layer)) cellLayer(layer, path);
    else if (Object.hasOwn(layerSchemas, String(layer.type))) builtinLayer(layer, i, path);
    else known = false;
  });
  // Whole-model problems first, then layer by layer (stable: structure before semantics).
  const layerOf = (p: Problem) => Number(/^layers\[(\d+)\]/.exec(p.path)?.[1] ?? -1);
  const seen = new Set<string>();
  const unique = problems.filter((p) => !seen.has(p.path) && seen.add(p.path)).sort((a, b) => layerOf(a) - layerOf(b));
  return unique.length ? { problems: unique } : { problems: unique, ir };
}

/**
 * Every problem of an IR, each with its path (`layers[2].options.units`), a stable code
 * per rule, a message and, where one exists, a hint. Empty when the IR is valid.
 */
export function checkIR(ir: unknown, cells: ReadonlyMap<string, CellPlugin>, opts: ResolveOptions = {}): Problem[] {
  return inspectIR(ir, cells, opts).problems;
}
