/** Step tracing: the IR, the tracer, reverse-mode AD and the reference interpreter (see ir.ts). */
export type { AdjointProgram, BinaryFn, BufferInfo, BufferRole, Op, StepProgram, UnaryFn } from './ir.js';
export { opInputs } from './ir.js';
export { TraceAbort } from './builder.js';
export { TRACEABLE_KERNELS } from './backend.js';
export { perStepInputs, traceStep, type StepShapes } from './tracer.js';
export { differentiate } from './autodiff.js';
export { Interpreter } from './interpret.js';
export { setTraceInterpreter, type TraceInterpreter } from './traced.js';
