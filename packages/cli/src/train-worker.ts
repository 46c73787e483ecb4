// The worker-thread side of `cellstack train` (train-thread.ts starts it): the whole run, with
// the signals' interrupt flag and progress going back to the main thread.
import { parentPort, workerData } from 'node:worker_threads';
import { reportError } from './errors.js';
import { train, type TrainFlags } from './train.js';
import type { ToMain, WorkerData } from './train-thread.js';

const data = workerData as WorkerData;
const post = (m: ToMain) => parentPort!.postMessage(m);
// Output travels with the progress messages, in one channel: the lines keep their order with
// the progress display the main thread draws (a worker's own stdio is a separate channel).
for (const stream of ['stdout', 'stderr'] as const) {
  process[stream].write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    post({ [stream]: typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString() } as ToMain);
    const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    done?.();
    return true;
  }) as typeof process.stdout.write;
}
// run.json records the command line: the main thread's, not the worker's.
process.argv = [process.argv[0], process.argv[1] ?? 'cellstack', ...data.argv];
let code: number;
try {
  const flags: TrainFlags = { ...data.flags, interrupt: data.flag, onTick: (tick) => post({ tick }), onPhase: (phase, dir) => post({ phase, dir }) };
  code = await train(data.spec, flags);
} catch (e) {
  code = reportError(e, data.debug);
}
post({ code });
