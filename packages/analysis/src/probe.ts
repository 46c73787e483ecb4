/**
 * Probes: record the named internal signals of every cell layer (gates, memories) during
 * one forward pass, without changing the model or its outputs.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { CellLayer, initialState } from '@cellstack/core';

export interface LayerSignal {
  /** The tf layer's name. */
  layer: string;
  cell: string;
  signal: string;
  /** Time-major [T][B][k]. */
  values: number[][][];
  /** True when the signal is one of the cell's recurrent states, a memory (NRU's `m`, the LSTM's cell state `c`). */
  state?: boolean;
  /**
   * For a state signal: its value before step 1, [B][k] — the cell's initial state. Absent
   * for other signals, and for stateful layers (whose carried state is not visible).
   */
  initial?: number[][];
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
    const signals = having.map((l): LayerSignal => {
      const s: LayerSignal = { layer: l.name, cell: l.plugin.name, signal, values: l.lastSignals![signal].arraySync() as number[][][] };
      const cell = l.cell!;
      if (Object.hasOwn(cell.state, signal)) {
        s.state = true;
        if (!l.stateful) s.initial = tf.tidy(() => initialState(cell, x.shape[0], l.params())[signal].arraySync() as number[][]);
      }
      return s;
    });
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

export interface MemoryChange {
  layer: string;
  cell: string;
  signal: string;
  /** The sequence of the batch it shows. */
  sequence: number;
  /** Step of the first column: 1 when the initial value is known (s_0), else 2. */
  firstStep: number;
  /** |s_t − s_{t−1}| per unit (rows, [k]) × step (columns, from `firstStep` to T). */
  change: number[][];
}

/**
 * The NRU paper's Figure 6 statistic: how much each unit of a memory (a recurrent state
 * signal such as NRU's `m`) changes at each step, |s_t − s_{t−1}|, for one sequence of the
 * batch, as a units × steps matrix. Step 1 compares with the initial state when the probe
 * recorded it (`initial`); otherwise the matrix starts at step 2.
 */
export function memoryChange(s: LayerSignal, sequence = 0): MemoryChange {
  const T = s.values.length;
  const B = s.values[0]?.length ?? 0;
  if (!(Number.isInteger(sequence) && sequence >= 0 && sequence < B)) throw new Error(`sequence ${sequence} is not in the batch of ${B}`);
  const seq = s.values.map((step) => step[sequence]);
  const prev = s.initial ? [s.initial[sequence], ...seq] : seq;
  const k = seq[0]?.length ?? 0;
  const first = s.initial ? 0 : 1;
  const change = Array.from({ length: k }, (_, j) => Array.from({ length: T - first }, (_, i) => Math.abs(seq[first + i][j] - prev[i][j])));
  return { layer: s.layer, cell: s.cell, signal: s.signal, sequence, firstStep: first + 1, change };
}
