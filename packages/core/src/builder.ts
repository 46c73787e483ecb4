import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { CellPlugin } from './cell.js';
import { layerSeed } from './cell-layer.js';
import { layerClassOf } from './define-cell.js';
import { findCell, inspectIR, type ResolveOptions } from './check-ir.js';
import { errorOf } from './errors.js';
import { isCellLayer, type ModelIR } from './ir.js';
import { LastStep, MeanSteps } from './layers/last-step.js';

/**
 * Check an IR (see inspectIR: every problem, collected) and return it with every default
 * filled in; throws the first problem as a CellstackError. checkIR lists them all.
 */
export function resolveIR(irIn: unknown, cells: ReadonlyMap<string, CellPlugin>, opts: ResolveOptions = {}): ModelIR {
  const { problems, ir } = inspectIR(irIn, cells, opts);
  if (problems.length || !ir) throw errorOf(problems[0]);
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
