import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { CellLayer } from '../cell-layer.js';
import { LastStep, MeanSteps } from '../layers/last-step.js';
import { recordOps, type TapeOp } from '../op-tape.js';
import { settings } from '../settings.js';

/*
 * tfjs-layers' training step (model.fit, trainOnBatch) for a chain of layers, with the engine's
 * gradient bookkeeping done here. cellstack's ops (whole-sequence kernels, the dense head, its
 * cross-entropy) put themselves on the tape directly instead of through the engine's
 * runKernelFunc / customGrad (kernel scopes, clones of saved tensors), tf's own ops record as
 * usual, and the tape runs backwards as tf's gradients() runs it: the same gradient functions
 * in the same order on the same values, so losses and weights are bit-identical. It also skips
 * tfjs-layers' symbolic execution and tf's tape filtering: 2–5 % of a W1 or W2 step here.
 * Anything it does not cover goes to tfjs-layers' own function: sample weights, regularisers,
 * masks (Masking, Embedding), stateful layers, graphs other than one chain, several inputs or outputs.
 */

type TrainFunction = (data: tf.Tensor[]) => tf.Scalar[];
type Loss = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;
interface Model {
  inputs: unknown[];
  outputs: { sourceLayer: unknown }[];
  layers: tfl.layers.Layer[];
  lossFunctions: Loss[];
  metricsTensors: [Loss, number][];
  collectedTrainableWeights: { read(): tf.Variable }[];
  optimizer_: tf.Optimizer;
  calculateLosses(): tf.Scalar[];
  makeTrainFunction(): TrainFunction;
}
interface Engine {
  state: { gradientDepth: number; activeTape: TapeOp[] | null };
}

/** tf layers whose training call needs nothing but its input and { training } (no masks, no state kept between calls). */
const PLAIN = new Set(['Dense', 'Dropout', 'LayerNormalization']);

let original: (() => TrainFunction) | undefined;
let steps = 0;

/** Replace LayersModel's train function with the direct step where it applies; off: tfjs-layers' own back. */
export function installDirectSteps(on: boolean): boolean {
  const proto = tfl.LayersModel.prototype as unknown as Model;
  if (on && !original) {
    const make = (original = proto.makeTrainFunction);
    proto.makeTrainFunction = function (this: Model) {
      const fallback = make.call(this);
      return (data: tf.Tensor[]) => directStep(this, data) ?? fallback(data);
    };
  } else if (!on && original) {
    proto.makeTrainFunction = original;
    original = undefined;
  }
  return original !== undefined;
}

/** How many training steps ran directly in this process (tests and benchmarks read it). */
export const directSteps = (): number => steps;

/** The model's layers after its input when they form one chain of layers the direct step covers; else undefined. */
function chain(model: Model): tfl.layers.Layer[] | undefined {
  const [input, ...rest] = model.layers;
  let previous = input;
  for (const layer of rest) {
    const nodes = (layer as unknown as { inboundNodes: { inboundLayers: unknown[] }[] }).inboundNodes;
    if (nodes.length !== 1 || nodes[0].inboundLayers.length !== 1 || nodes[0].inboundLayers[0] !== previous) return undefined;
    const covered = layer instanceof CellLayer ? !layer.stateful : layer instanceof LastStep || layer instanceof MeanSteps || PLAIN.has(layer.getClassName());
    if (!covered) return undefined;
    previous = layer;
  }
  return rest.length > 0 && previous === model.outputs[0].sourceLayer ? rest : undefined;
}

/** tfjs-layers' train function on one batch ([loss, ...metrics]), or undefined where it must run itself. */
function directStep(model: Model, data: tf.Tensor[]): tf.Scalar[] | undefined {
  const engine = tf.engine() as unknown as Engine;
  if (!settings().directSteps || engine.state.gradientDepth > 0 || model.inputs.length !== 1 || model.outputs.length !== 1 || model.lossFunctions.length !== 1) return undefined;
  const [x, y, ...sampleWeights] = data;
  const layers = sampleWeights.every((w) => w == null) ? chain(model) : undefined;
  if (!layers) return undefined;
  const penalties = model.calculateLosses();
  if (penalties.length > 0) {
    tf.dispose(penalties);
    return undefined;
  }
  const tape: TapeOp[] = [];
  const variables = model.collectedTrainableWeights.map((w) => w.read());
  let result: { values: tf.Scalar[]; grads: { name: string; tensor: tf.Tensor | null | undefined }[]; held: tf.Tensor[] } | undefined;
  try {
    tf.tidy(() => {
      let output: tf.Tensor | undefined;
      let rows: tf.Tensor | undefined;
      // As tf's gradients() does: tf's ops record on a fresh tape, and cellstack's on the same one (openTape).
      const { gradientDepth, activeTape } = engine.state;
      engine.state.gradientDepth++;
      engine.state.activeTape = tape;
      try {
        recordOps(tape, () => {
          output = layers.reduce((h: tf.Tensor, layer) => layer.apply([h], { training: true }) as tf.Tensor, x);
          rows = model.lossFunctions[0](y, output);
        });
      } finally {
        engine.state.gradientDepth = gradientDepth;
        engine.state.activeTape = activeTape;
      }
      const grads = backpropagate(tape, rows!, variables);
      if (!grads) return;
      const loss = tf.mean(rows!) as tf.Scalar;
      const metrics = model.metricsTensors.map(([metric]) => tf.mean(metric(y, output!)) as tf.Scalar);
      // tfjs-layers' variable list, as tf's Optimizer.minimize hands it on.
      const list = variables.map((v) => ({ name: v.name, tensor: v.trainable ? grads.get(v.id) : null }));
      const held = list.flatMap((g) => (g.tensor ? [g.tensor] : []));
      for (const t of [loss, ...metrics, ...held]) tf.keep(t);
      result = { values: [loss, ...metrics], grads: list, held };
    });
  } finally {
    for (const op of tape) {
      op.discard?.();
      tf.dispose(op.saved ?? []);
    }
  }
  if (!result) return undefined;
  // Outside the step's scope, as minimize does: an optimiser may make tensors that outlive it (momentum's constant).
  try {
    model.optimizer_.applyGradients(result.grads as unknown as tf.NamedTensorMap);
  } finally {
    tf.dispose(result.held);
  }
  steps++;
  return result.values;
}

/**
 * The gradients of mean(rows) with respect to the variables, by tf's backpropagateGradients on the
 * tape: ops run newest first when a gradient reached one of their outputs (zeros for the others), their
 * thunks in input order for inputs that depend on a variable, and sums where a tensor feeds several ops.
 * Undefined where an op has no gradient function or no variable gets a gradient (tf's own step then says why).
 */
function backpropagate(tape: TapeOp[], rows: tf.Tensor, variables: tf.Variable[]): Map<number, tf.Tensor> | undefined {
  const fromVariables = new Set(variables.filter((v) => v.trainable).map((v) => v.id));
  for (const op of tape) if (Object.values(op.inputs).some((t) => fromVariables.has(t.id))) for (const o of op.outputs) fromVariables.add(o.id);
  const grads = new Map<number, tf.Tensor>([[rows.id, meanGradient(rows)]]);
  for (let k = tape.length - 1; k >= 0; k--) {
    const op = tape[k];
    const inputs = Object.entries(op.inputs).filter(([, t]) => fromVariables.has(t.id));
    if (inputs.length === 0 || !op.outputs.some((o) => grads.has(o.id))) continue;
    if (!op.gradient) return undefined;
    const thunks = op.gradient(op.outputs.map((o) => grads.get(o.id) ?? tf.zeros(o.shape, o.dtype)));
    delete op.discard; // its gradient ran: what it held is released
    for (const [name, t] of inputs) {
      const dx = thunks[name]();
      const current = grads.get(t.id);
      grads.set(t.id, current ? tf.add(current, dx) : dx);
    }
  }
  return variables.some((v) => grads.has(v.id)) ? grads : undefined;
}

/**
 * d mean(rows) / d rows, as tf's gradients() starts the loss's backward pass with the registered gradient of
 * Mean (dy = 1): 1 · 1 / n in float32, one fill instead of its five ops (1/n rounded from double is the float32
 * quotient: double rounding is exact for a quotient).
 */
const meanGradient = (rows: tf.Tensor): tf.Tensor => tf.fill(rows.shape, Math.fround(1 / rows.size));
