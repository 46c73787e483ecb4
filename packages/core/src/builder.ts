import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { CellPlugin } from './cell.js';
import { layerSeed } from './cell-layer.js';
import { layerClassOf } from './define-cell.js';
import { CellstackError, clip, closest } from './errors.js';
import { isCellLayer, LIMITS, validateIR, type ModelIR } from './ir.js';
import { LastStep, MeanSteps } from './layers/last-step.js';

/** Look up a cell by name, with a "did you mean" hint and the list of known cells. */
export function findCell(cells: ReadonlyMap<string, CellPlugin>, name: string, path: string): CellPlugin {
  const plugin = cells.get(name);
  if (plugin) return plugin;
  const names = [...cells.keys()];
  const guess = closest(name, names);
  throw new CellstackError(path, `unknown cell '${clip(name)}'; registered cells: ${names.join(', ') || '(none)'}`, guess ? `did you mean ${guess}?` : 'install and register its plugin with runtime.use()', 'unknown-cell');
}

export interface ResolveOptions {
  /** Parameter budget of the whole model (default LIMITS.maxParams); raise it for bigger models. */
  maxParams?: number;
}

const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const paramsOf = (instance: { params: Record<string, { shape: number[] }> }) => Object.values(instance.params).reduce((a, p) => a + count(p.shape), 0);

/**
 * Check an IR against the registered cells and return it with every default filled in
 * (layer defaults and each cell's options), plus checks of layer order and shapes, the
 * layer count and the parameter budget — all from shapes, before anything is allocated.
 */
export function resolveIR(irIn: unknown, cells: ReadonlyMap<string, CellPlugin>, opts: ResolveOptions = {}): ModelIR {
  const maxParams = opts.maxParams ?? LIMITS.maxParams;
  const ir = validateIR(irIn);
  const depth = ir.layers.reduce((a, l) => a + (isCellLayer(l) ? (l.repeat ?? 1) : 1), 0);
  if (depth > LIMITS.maxLayers) {
    throw new CellstackError('layers', `the model has ${depth} layers (repeats counted); at most ${LIMITS.maxLayers}`, 'fewer or smaller repeats', 'too-large');
  }
  let [T, F] = ir.input.shape;
  let sequence = true;
  let pooledAt = -1;
  let params = 0;
  const budget = (path: string) => {
    if (params > maxParams) {
      throw new CellstackError(path, `the model reaches ${Math.round(params).toLocaleString('en-US')} parameters here, over the budget of ${maxParams.toLocaleString('en-US')}`, 'use smaller layers, or raise the budget (maxParams; the CLI\'s --max-params)', 'too-large');
    }
  };
  ir.layers.forEach((layer, i) => {
    const path = `layers[${i}]`;
    if (isCellLayer(layer)) {
      const plugin = findCell(cells, layer.cell, `${path}.cell`);
      if (!sequence) {
        throw new CellstackError(path, `a ${layer.cell} cell needs a sequence, but layers[${pooledAt}] already pooled over time`, 'move the pooling after the last cell', 'bad-order');
      }
      if (layer.bidirectional && layer.stateful) {
        throw new CellstackError(`${path}.stateful`, 'a bidirectional layer cannot be stateful: its backward direction reads the whole sequence', 'drop one of the two');
      }
      const ctx = { inputSize: F, timesteps: T };
      layer.options = plugin.resolveOptions(layer.options ?? {}, `${path}.options`, ctx) as Record<string, unknown>;
      const first = plugin.create(layer.options as never, ctx);
      // A bidirectional layer holds two copies of the cell, one per direction.
      const directions = layer.bidirectional ? 2 : 1;
      params += directions * paramsOf(first);
      budget(path);
      const out = layer.bidirectional?.merge === 'concat' ? 2 * first.outputSize : first.outputSize;
      const repeat = layer.repeat ?? 1;
      // Later copies in a repeat see the layer's own output size.
      if (repeat > 1) {
        const later = { inputSize: out, timesteps: T };
        plugin.resolveOptions(layer.options, `${path}.options`, later);
        params += (repeat - 1) * directions * paramsOf(plugin.create(layer.options as never, later));
        budget(path);
      }
      F = out;
      return;
    }
    switch (layer.type) {
      case 'dense':
        params += F * layer.units + (layer.useBias === false ? 0 : layer.units);
        budget(path);
        F = layer.units;
        return;
      case 'embedding':
        if (i !== 0) throw new CellstackError(path, 'an embedding must be the first layer', undefined, 'bad-order');
        if (F !== 1) throw new CellstackError('input.shape', `an embedding layer needs input [timesteps, 1] of token ids (got features ${F})`);
        params += layer.vocab * layer.dim;
        budget(path);
        F = layer.dim;
        return;
      case 'layerNorm':
        params += 2 * F;
        budget(path);
        return;
      case 'masking':
        if (!sequence) throw new CellstackError(path, `'masking' marks padded time steps, but layers[${pooledAt}] already pooled over time`, 'put it before the first cell', 'bad-order');
        return;
      case 'last':
      case 'mean':
        if (!sequence) throw new CellstackError(path, `'${layer.type}' pools over time, but layers[${pooledAt}] already did`, undefined, 'bad-order');
        sequence = false;
        pooledAt = i;
        T = null;
        return;
      default:
        return;
    }
  });
  return ir;
}

/** Build a tf.LayersModel from a resolved IR (see resolveIR). */
export function buildLayersModel(ir: ModelIR, cells: ReadonlyMap<string, CellPlugin>): tfl.LayersModel {
  const seed = ir.seed ?? Math.floor(Math.random() * 2 ** 31);
  const [T, F] = ir.input.shape;
  const input = tfl.input({ shape: [T, F], dtype: ir.input.dtype ?? 'float32', name: 'input' });
  let x = input as tfl.SymbolicTensor;
  let index = 0;
  const name = (base: string) => `${base.toLowerCase().replace(/[^a-z0-9_]/g, '_')}_${index}`;
  const apply = (layer: tfl.layers.Layer) => {
    x = layer.apply(x) as tfl.SymbolicTensor;
    index++;
  };
  ir.layers.forEach((layer, i) => {
    if (isCellLayer(layer)) {
      const Cls = layerClassOf(findCell(cells, layer.cell, `layers[${i}].cell`));
      const repeat = layer.repeat ?? 1;
      // A following `last` is folded into the final cell: it returns only its last step.
      const next = ir.layers[i + 1];
      const lastOnly = next !== undefined && !isCellLayer(next) && next.type === 'last';
      for (let r = 0; r < repeat; r++) {
        const returnSequences = !(lastOnly && r === repeat - 1);
        apply(new Cls({ options: layer.options, returnSequences, stateful: layer.stateful, bidirectional: layer.bidirectional, seed: layerSeed(seed, index), name: name(layer.cell) }));
      }
      return;
    }
    const prev = ir.layers[i - 1];
    switch (layer.type) {
      case 'last':
        if (prev && isCellLayer(prev)) return; // folded into the cell above
        return apply(new LastStep({ name: name('last') }));
      case 'mean':
        return apply(new MeanSteps({ name: name('mean') }));
      case 'masking':
        return apply(tfl.layers.masking({ maskValue: layer.value ?? 0, name: name('masking') }));
      case 'dense': {
        const k = 1 / Math.sqrt(x.shape[x.shape.length - 1] ?? 1);
        const uniform = (offset: number) => tfl.initializers.randomUniform({ minval: -k, maxval: k, seed: layerSeed(seed, index) + offset });
        return apply(tfl.layers.dense({
          units: layer.units,
          activation: layer.activation as never,
          useBias: layer.useBias,
          kernelInitializer: layer.init === 'uniform' ? uniform(0) : tfl.initializers.glorotUniform({ seed: layerSeed(seed, index) }),
          ...(layer.init === 'uniform' ? { biasInitializer: uniform(1) } : {}),
          name: name('dense'),
        }));
      }
      case 'dropout':
        return apply(tfl.layers.dropout({ rate: layer.rate, seed: layerSeed(seed, index), name: name('dropout') }));
      case 'layerNorm':
        return apply(tfl.layers.layerNormalization({ epsilon: layer.epsilon, name: name('layer_norm') }));
      case 'embedding':
        apply(tfl.layers.reshape({ targetShape: [T ?? -1], name: name('tokens') }));
        return apply(tfl.layers.embedding({
          inputDim: layer.vocab,
          outputDim: layer.dim,
          maskZero: layer.maskZero ?? false,
          embeddingsInitializer: tfl.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed: layerSeed(seed, index) }),
          name: name('embedding'),
        }));
    }
  });
  const model = tfl.model({ inputs: input, outputs: x, name: 'cellstack' });
  model.setUserDefinedMetadata({ cellstack: { ir: { ...ir, seed } } as unknown as tf.serialization.ConfigDict });
  return model;
}
