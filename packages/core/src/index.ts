export type {
  CellContext,
  CellDefinition,
  CellInstance,
  CellPlugin,
  JsonSchema,
  OptionsSchema,
  ParamSpec,
  Params,
  State,
  StepContext,
  StepResult,
  FusedResult,
} from './cell.js';
export {
  WasmKernel,
  type RunOptions,
  loadKernel,
  fusedCall,
  viewsSafe,
  keepSafe,
  zeros,
  setFusedKernels,
  fusedKernelsActive,
  gpuKernelsActive,
  setKernelPreference,
  kernelPreference,
  type FusedSpec,
  type KernelPreference,
} from './kernel.js';
export { runGpuProgram, type GpuProgram } from './gpu-program.js';
export { Interrupted, setInterruptFlag, checkInterrupt, interruptPoint, interruptible } from './interrupt.js';
export { nativeKernels, setNativeKernels, type NativeKernels } from './native.js';
export { configure, settings, NATIVE_MIN_PRODUCT, type Settings } from './settings.js';
export { installAccel, accelState, type AccelState } from './accel/index.js';
export { directSteps } from './accel/train-step.js';
export { productMultiplyAdds } from './products.js';
export { defineCell, layerClassOf } from './define-cell.js';
export { CellLayer, type CellLayerArgs, type MergeMode } from './cell-layer.js';
export { layerPaths, cellPath, type LayerPath } from './kernel-path.js';
export * as trace from './trace/index.js';
export { runSequence, initialState, paths as sequencePaths, type SequenceOptions, type SequenceResult, type KernelPath } from './sequence.js';
export * as init from './init.js';
export type { Init } from './init.js';
export { createRng, dropoutMask, dropoutThreshold, hashSeed, setTrainingStep, stepSeeds, type Rng } from './rng.js';
export { CellstackError, clip, closest, editDistance, problemOf, type Problem, type ProblemCode } from './errors.js';
export { validate, describeSchema, joinPath } from './schema.js';
export { modelIRSchema, layerSchemas, validateIR, isCellLayer, LIMITS } from './ir.js';
export { checkIR, type ResolveOptions } from './check-ir.js';
export type { ModelIR, LayerIR, CellLayerIR, DenseIR, DropoutIR, EmbeddingIR, MaskingIR, PoolIR, LayerNormIR, Activation } from './ir.js';
export { createRuntime, runtimeOf, type Runtime, type RuntimeOptions, type CellInfo } from './runtime.js';
export { selectBackend, BACKENDS, EMBEDDED_DEFAULT, type BackendChoice, type BackendInfo } from './backend.js';
export { describeAdapter, type GpuAdapter } from './webgpu.js';
export { GroupedOptimizer, createOptimizer, modelMultipliers, modelCellVariables, OPTIMIZERS, CLIP_SCOPES, type ClipScope, type OptimizerOptions, type OptimizerName } from './optimizer.js';
export { saveTo, loadModel, writeFileAtomic } from './io.js';
export { LastStep, MeanSteps } from './layers/last-step.js';
export { LSTM, GRU, SimpleRNN, JANET, baselineCells } from './baselines/index.js';
