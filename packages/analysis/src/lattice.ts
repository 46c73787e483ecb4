/**
 * The gradient-flow lattice of the STAR paper (§3.1, Figure 2): the mean magnitude of
 * ∂loss/∂h_t^l for every layer l and step t of a stack of cells (and of ∂loss/∂θ for each
 * layer's parameters), at the paper's point
 * (orthogonal weights, zero biases and states, correlated Gaussian inputs).
 */
import * as tf from '@tensorflow/tfjs-core';
import { createRng, hashSeed, init, type CellPlugin, type Params, type Rng, type State } from '@cellstack/core';
import { buildCell, type BuiltCell } from '@cellstack/core/testing';

export interface LatticeLayer {
  plugin: CellPlugin;
  options: Record<string, unknown>;
}

/** Which outputs the loss reads: the top layer's last step only, or every step. */
export type LossOn = 'final' | 'all';

export interface GradFlowOptions {
  /** The stacked cells, first layer first. */
  layers: LatticeLayer[];
  /** Features of the input x_t. */
  inputSize: number;
  /** Steps T. */
  time: number;
  /** Independent draws of weights (each with its own batch of input sequences). */
  runs?: number;
  /** Input sequences per draw of weights. */
  batch?: number;
  /** Correlation of the inputs: x_t = α x_{t−1} + (1 − α) z, z ~ N(0, 1). */
  alpha?: number;
  seed?: number;
}

export interface GradFlow {
  layers: number;
  time: number;
  runs: number;
  batch: number;
  alpha: number;
  seed: number;
  cells: string[];
  /** [L][T]: mean ‖∂loss/∂h_t^l‖₂ for the loss Σ h_T^L (the top layer's last output). */
  final: number[][];
  /** [L][T]: the same for the loss Σ_t Σ h_t^L (every output of the top layer). */
  all: number[][];
  /** [L]: mean |∂loss/∂θ| over every parameter entry θ of layer l, for each loss. */
  params: { final: number[]; all: number[] };
}

/**
 * The paper's weights for one layer: every matrix orthogonal (block-wise per gate when
 * it concatenates gates of the layer's width), every vector zero. Parameters of other
 * ranks keep the cell's own initialisation.
 */
function paperWeights(built: BuiltCell, rng: Rng) {
  const H = built.cell.outputSize;
  for (const [name, v] of Object.entries(built.params)) {
    const shape = v.shape;
    let data: Float32Array | undefined;
    if (shape.length === 1) data = init.zeros(shape, rng);
    else if (shape.length === 2) {
      const cols = shape[1];
      const blocks = cols > H && cols % H === 0 ? cols / H : 1;
      data = init.concatLast(Array.from({ length: blocks }, () => [cols / blocks, init.orthogonal()] as const))(shape, rng.fork(name));
    }
    if (data) tf.tidy(() => v.assign(tf.tensor(data, shape)));
  }
}

/** Build the stack at the paper's point; dispose the cells when done. */
export function paperLattice(layers: LatticeLayer[], inputSize: number, time: number, seed: number): BuiltCell[] {
  const rng = createRng(hashSeed(seed, 'weights'));
  const built: BuiltCell[] = [];
  let width = inputSize;
  for (const [l, { plugin, options }] of layers.entries()) {
    // tidy: buildCell leaves each variable's initial tensor behind; the variables survive it.
    let b!: BuiltCell;
    tf.tidy(() => {
      b = buildCell(plugin, options, { inputSize: width, timesteps: time, seed: hashSeed(seed, 'layer', l) });
    });
    paperWeights(b, rng.fork(`layer${l}`));
    built.push(b);
    width = b.cell.outputSize;
  }
  return built;
}

/** Input sequences [B, T, F] of the random process x_t = α x_{t−1} + (1 − α) z (x_{−1} = 0). */
export function paperInputs(batch: number, time: number, features: number, alpha: number, seed: number): tf.Tensor3D {
  const rng = createRng(hashSeed(seed, 'inputs'));
  const data = new Float32Array(batch * time * features);
  for (let b = 0; b < batch; b++) {
    for (let f = 0; f < features; f++) {
      let x = 0;
      for (let t = 0; t < time; t++) {
        x = alpha * x + (1 - alpha) * rng.normal();
        data[(b * time + t) * features + f] = x;
      }
    }
  }
  return tf.tensor3d(data, [batch, time, features]);
}

/**
 * Run the stack with a probe added to every h_t^l (the output and, wherever the cell
 * carries its output as state, that state too), so that ∂loss/∂probe_t^l is the full
 * ∂loss/∂h_t^l through both the layer above and the next step. States start at zero.
 * Returns the loss.
 */
export function latticeLoss(cells: BuiltCell[], x: tf.Tensor3D, probes: tf.Tensor2D[][], on: LossOn): tf.Scalar {
  const [B, T] = x.shape;
  let seq: tf.Tensor3D = x;
  let top: tf.Tensor2D[] = [];
  for (const [l, { cell, params }] of cells.entries()) {
    const F = seq.shape[2];
    const timeMajor = tf.transpose(seq, [1, 0, 2]);
    const projected: Record<string, tf.Tensor> = cell.project ? cell.project(tf.reshape(timeMajor, [T * B, F]) as tf.Tensor2D, params as Params) : { x: timeMajor };
    const inputs = Object.fromEntries(Object.entries(projected).map(([k, p]) => [k, tf.split(tf.reshape(p, [T, B, -1]), T, 0).map((s) => tf.reshape(s, [B, -1]) as tf.Tensor2D)]));
    const constants = cell.begin ? cell.begin({ training: false, batch: B, steps: T }, params as Params) : {};
    let state: State = Object.fromEntries(Object.entries(cell.state).map(([k, size]) => [k, tf.zeros([B, size])]));
    const outs: tf.Tensor2D[] = [];
    for (let t = 0; t < T; t++) {
      const stepInputs = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, v[t]]));
      const r = cell.step(stepInputs, state, params as Params, { training: false, batch: B, t, constants });
      const h = tf.add(r.output, probes[l][t]) as tf.Tensor2D;
      state = Object.fromEntries(Object.entries(r.state).map(([k, s]) => [k, s === r.output ? h : s]));
      outs.push(h);
    }
    top = outs;
    seq = tf.stack(outs, 1) as tf.Tensor3D;
  }
  return on === 'final' ? tf.sum(top[T - 1]) : tf.sum(tf.stack(top));
}

/** ∂loss/∂h_t^l for every layer and step: [L][T] tensors of [B, H_l]. */
export function latticeGradients(cells: BuiltCell[], x: tf.Tensor3D, on: LossOn): tf.Tensor2D[][] {
  const [B, T] = x.shape;
  const zeros = cells.map(({ cell }) => Array.from({ length: T }, () => tf.zeros([B, cell.outputSize]) as tf.Tensor2D));
  const flat = zeros.flat();
  const grads = tf.grads((...p: tf.Tensor[]) => latticeLoss(cells, x, cells.map((_, l) => p.slice(l * T, (l + 1) * T) as tf.Tensor2D[]), on))(flat);
  tf.dispose(flat);
  return cells.map((_, l) => grads.slice(l * T, (l + 1) * T) as tf.Tensor2D[]);
}

/** Mean |∂loss/∂θ| over every parameter entry of each layer: [L]. */
export function paramGradientMagnitudes(cells: BuiltCell[], x: tf.Tensor3D, on: LossOn): number[] {
  const [B, T] = x.shape;
  return tf.tidy(() => {
    const probes = cells.map(({ cell }) => Array.from({ length: T }, () => tf.zeros([B, cell.outputSize]) as tf.Tensor2D));
    const vars = cells.flatMap((c) => Object.values(c.params));
    const { grads } = tf.variableGrads(() => latticeLoss(cells, x, probes, on), vars);
    return cells.map((c) => {
      const gs = Object.values(c.params).map((v) => grads[v.name]);
      const total = gs.reduce((a, g) => a + tf.sum(tf.abs(g)).dataSync()[0], 0);
      return total / gs.reduce((a, g) => a + g.size, 0);
    });
  });
}

/** Per-sample L2 norm averaged over the batch: [L][T]. */
function magnitudes(grads: tf.Tensor2D[][]): number[][] {
  return grads.map((g) => Array.from(tf.tidy(() => tf.mean(tf.norm(tf.stack(g), 'euclidean', 2), 1)).dataSync()));
}

/** The lattice of mean gradient magnitudes, for both losses, averaged over `runs` draws. */
export function gradFlow(o: GradFlowOptions): GradFlow {
  const { layers, inputSize, time, runs = 10, batch = 16, alpha = 0.5, seed = 1 } = o;
  if (!layers.length) throw new Error('gradFlow needs at least one cell layer');
  const sum = { final: layers.map(() => new Array<number>(time).fill(0)), all: layers.map(() => new Array<number>(time).fill(0)) };
  const params = { final: new Array<number>(layers.length).fill(0), all: new Array<number>(layers.length).fill(0) };
  for (let r = 0; r < runs; r++) {
    const runSeed = hashSeed(seed, 'run', r);
    const cells = paperLattice(layers, inputSize, time, runSeed);
    try {
      for (const on of ['final', 'all'] as const) {
        const x = paperInputs(batch, time, inputSize, alpha, runSeed);
        const m = tf.tidy(() => magnitudes(latticeGradients(cells, x, on)));
        m.forEach((row, l) => row.forEach((v, t) => (sum[on][l][t] += v / runs)));
        paramGradientMagnitudes(cells, x, on).forEach((v, l) => (params[on][l] += v / runs));
        x.dispose();
      }
    } finally {
      cells.forEach((c) => c.dispose());
    }
  }
  return { layers: layers.length, time, runs, batch, alpha, seed, cells: layers.map((l) => l.plugin.name), final: sum.final, all: sum.all, params };
}

/**
 * How much the gradient grows from the top layer to the first: the first layer's mean
 * magnitude over all steps divided by the last layer's (> 1: it grows, < 1: it vanishes).
 */
export function depthRatio(m: number[][]): number {
  const mean = (row: number[]) => row.reduce((a, b) => a + b, 0) / row.length;
  return mean(m[0]) / mean(m[m.length - 1]);
}
