/**
 * Probes: record the named internal signals of every cell layer (gates, memories) during
 * one forward pass, without changing the model or its outputs.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { CellLayer } from '@cellstack/core';

export interface LayerSignal {
  /** The tf layer's name. */
  layer: string;
  cell: string;
  signal: string;
  /** Time-major [T][B][k]. */
  values: number[][][];
}

export interface ProbeResult {
  /** The model's output on x, as from model.predict. */
  output: tf.Tensor;
  /** One entry per cell layer that emits the signal, in model order. */
  signals: LayerSignal[];
}

/**
 * Run `model` on `x` once, recording the signal `signal` of every cell layer that has it.
 * The caller owns `output`. Throws when no layer emits the signal, naming those that exist.
 */
export function probe(model: LayersModel, x: tf.Tensor, { signal }: { signal: string }): ProbeResult {
  const cells = model.layers.filter((l): l is CellLayer => l instanceof CellLayer);
  const having = cells.filter((l) => l.cell?.signals?.includes(signal));
  if (!having.length) {
    const known = [...new Set(cells.flatMap((l) => l.cell?.signals ?? []))];
    throw new Error(`no cell layer of this model emits the signal '${signal}'; ${known.length ? `they emit: ${known.join(', ')}` : 'its cells emit no signals'}`);
  }
  const before = having.map((l) => l.recordSignals);
  having.forEach((l) => (l.recordSignals = true));
  try {
    const output = model.predict(x) as tf.Tensor;
    const signals = having.map((l) => ({ layer: l.name, cell: l.plugin.name, signal, values: l.lastSignals![signal].arraySync() as number[][][] }));
    return { output, signals };
  } finally {
    having.forEach((l, i) => {
      l.recordSignals = before[i];
      tf.dispose(Object.values(l.lastSignals ?? {}));
      l.lastSignals = undefined;
    });
  }
}

/** Mean over time and batch of each unit's signal: [k], the UR paper's Figure 4 statistic. */
export function unitMeans(values: number[][][]): number[] {
  const k = values[0][0].length;
  const sum = new Array<number>(k).fill(0);
  let n = 0;
  for (const step of values) for (const row of step) {
    row.forEach((v, j) => (sum[j] += v));
    n++;
  }
  return sum.map((s) => s / n);
}
