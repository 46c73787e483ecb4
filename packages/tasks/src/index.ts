export type { Batch, Task, TaskLoss } from './task.js';
export { copyTask, type CopyOptions } from './copy.js';
export { addingTask, addingHSTask } from './adding.js';
export { toTensors } from './tensors.js';
