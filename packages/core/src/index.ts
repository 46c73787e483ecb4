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
export { WasmKernel, loadKernel, fusedCall, setFusedKernels, fusedKernelsActive, type FusedSpec } from './kernel.js';
export { nativeKernels, setNativeKernels, type NativeKernels } from './native.js';
export { configure, settings, NATIVE_MIN_PRODUCT, type Settings } from './settings.js';
export { installAccel, accelState, type AccelState } from './accel/index.js';
export { productMultiplyAdds } from './products.js';
export { defineCell, layerClassOf } from './define-cell.js';
export { CellLayer, type CellLayerArgs } from './cell-layer.js';
export { runSequence, initialState, type SequenceOptions, type SequenceResult } from './sequence.js';
export * as init from './init.js';
export type { Init } from './init.js';
export { createRng, dropoutMask, dropoutThreshold, hashSeed, type Rng } from './rng.js';
export { CellstackError, closest, editDistance } from './errors.js';
export { validate, describeSchema, joinPath } from './schema.js';
export { modelIRSchema, layerSchemas, validateIR, isCellLayer } from './ir.js';
export type { ModelIR, LayerIR, CellLayerIR, DenseIR, DropoutIR, EmbeddingIR, PoolIR, LayerNormIR, Activation } from './ir.js';
export { createRuntime, runtimeOf, type Runtime, type RuntimeOptions, type CellInfo } from './runtime.js';
export { selectBackend, BACKENDS, EMBEDDED_DEFAULT, type BackendChoice, type BackendInfo } from './backend.js';
export { GroupedOptimizer, createOptimizer, modelMultipliers, type OptimizerOptions, type OptimizerName } from './optimizer.js';
export { saveTo, loadModel, writeFileAtomic } from './io.js';
export { LastStep } from './layers/last-step.js';
export { LSTM, GRU, SimpleRNN, JANET, baselineCells } from './baselines/index.js';
