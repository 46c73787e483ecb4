import type { ModelIR } from '@cellstack/core';
import type { Task } from '@cellstack/tasks';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { CliError, EXIT } from './errors.js';

const shapeText = (s: Array<number | null>) => `[${s.slice(1).map((d) => d ?? 'T').join(', ')}]`;

/**
 * Check that a model can be trained on a task: input features and length, and a head
 * whose output matches the task's targets (per step or once per sequence, with the
 * right number of units). Returns whether the loss must apply the softmax itself.
 */
export function checkFit(model: LayersModel, ir: ModelIR, task: Task, where: string): { fromLogits: boolean } {
  const fail = (msg: string, hint: string) => {
    throw new CliError(`${where}error: the model does not fit task ${task.name}: ${msg}`, EXIT.input, [`  hint: ${hint}`]);
  };
  const [, T, F] = model.inputs[0].shape;
  const [tT, tF] = task.inputShape;
  if (F !== tF) fail(`its input has ${F} features per step, the task's data has ${tF}`, `declare 'input [${tT ?? 'null'}, ${tF}]'`);
  if (T !== null && T !== tT) fail(`its input length is ${T}, the task's sequences are ${tT ?? 'of varying length'}`, `declare 'input [null, ${tF}]' to accept any length`);
  const out = model.outputs[0].shape;
  const last = ir.layers[ir.layers.length - 1];
  const classes = task.loss === 'categoricalCrossentropy';
  const head = `dense(${task.outputs}${classes ? ', activation: softmax' : ''})`;
  if (task.perStep && out.length !== 3) {
    fail(`the task scores every step but the model outputs ${shapeText(out)} (pooled over time)`, `remove 'last'/'mean' and end with '-> ${head}'`);
  }
  if (!task.perStep && out.length !== 2) {
    fail(`the task wants one output per sequence but the model outputs ${shapeText(out)} per step`, `end with '-> last -> ${head}'`);
  }
  if (out[out.length - 1] !== task.outputs) {
    fail(`its output has ${out[out.length - 1]} units, the task needs ${task.outputs}${classes ? ' classes' : ''}`, `end with '-> ${task.perStep ? '' : 'last -> '}${head}'`);
  }
  const activation = 'type' in last && last.type === 'dense' ? (last.activation ?? 'linear') : 'linear';
  if (classes && activation !== 'softmax' && activation !== 'linear') {
    fail(`a classifier's last layer must be softmax (probabilities) or linear (logits), not ${activation}`, `end with '-> ${head}'`);
  }
  return { fromLogits: classes && activation !== 'softmax' };
}

/**
 * A note when a padded task meets a model that reads no mask: the padding then enters the
 * recurrence as data (legitimate for a comparison, a mistake otherwise).
 */
export function paddingNote(ir: ModelIR, task: Task): string | undefined {
  if (!task.padded) return undefined;
  const masked = ir.layers.some((l) => 'type' in l && (l.type === 'masking' || (l.type === 'embedding' && l.maskZero)));
  if (masked) return undefined;
  const first = task.inputShape[1] === 1 ? 'embedding(…, maskZero: true)' : 'masking(value: 0)';
  return `note: task ${task.name} pads its sequences, but the model has no mask: padded steps enter the recurrence as data (start the pipeline with ${first})`;
}
