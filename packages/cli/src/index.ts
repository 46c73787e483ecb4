/** @cellstack/cli as a library: the same commands the `cellstack` binary runs. */
export { main, program } from './main.js';
export { train, DEFAULTS, type TrainFlags, type RunRecord } from './train.js';
export { compare, type CompareFlags, type CompareRow } from './compare.js';
export { summary, check, fmt, cells, listTasks } from './tools.js';
export { EXIT, CliError } from './errors.js';
export { parseTaskFlag, showTask, type TaskRef } from './task-ref.js';
export { compileSpec, type CompiledSpec } from './spec.js';
export { checkFit } from './fit.js';
export { RunFolder, type MetricsLine, type CheckpointInfo } from './run-folder.js';
export { cliRuntime, CELL_PACKAGES } from './runtime.js';
