/**
 * Training/inference throughput of a cellstack model (a benchmark, never a test).
 * Prints one JSON line: steps/s, tokens/s, peak RSS, tensor count.
 *
 *   npx tsx --conditions=@cellstack/source tools/bench/bench.ts --workload W1 --cell STAR --backend wasm
 *   npx tsx --conditions=@cellstack/source tools/bench/bench.ts --ir model.json --seq 100 --batch 32
 *
 * Workloads (research/perf-notes.md): W1 = T 100, batch 32, one-hot 10, 1 layer of 128, dense 10 per step,
 * softmax CE, Adam; W2 = the same with 4 layers of 64; W3 = W1 forward only; M = the memory workload of
 * issue 11, BPTT over 784 steps of 16 layers of 64 at batch 100 (read peakRssMiB); G = the GPU workload of
 * issue 24, T 100, batch 256, 4 layers of 1024 (for --backend webgpu on a real GPU; tools/bench/gpu.sh);
 * L = T 100, batch 128, 2 layers of 512 (where threads matter). Lines carry the native products'
 * threads and the achieved GFLOP/s. The fused kernels are on unless CELLSTACK_FUSED=0 (hand-written
 * where a cell has one and does not declare its traced step faster, else its traced step;
 * CELLSTACK_KERNELS=hand-written / traced forces one for every cell), and multiply
 * through the native addon when it is installed unless CELLSTACK_NATIVE=0; tools/bench/suite.ts runs every path.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { accelState, configure, createOptimizer, createRuntime, directSteps, fusedKernelsActive, gpuKernelsActive, layerPaths, nativeKernels, productMultiplyAdds, settings, type BackendChoice, type CellInstance, type CellPlugin, type ModelIR } from '@cellstack/core';
import { cliArgs } from './args.js';
import { addonPeak } from './peak.js';

const CELL_PACKAGES = ['@cellstack/cell-nru', '@cellstack/cell-ur', '@cellstack/cell-star', '@cellstack/cell-rru', '@cellstack/cell-dmu'];

const USAGE = 'usage: npx tsx --conditions=@cellstack/source tools/bench/bench.ts [--workload W1|W2|W3|M|G] [--cell LSTM] [--options JSON] [--ir model.json --seq N --batch N] [--backend wasm|cpu|webgpu|auto] [--plugin file.ts] [--steps 5] [--warmup 2] [--peak]';
const args = cliArgs('bench', USAGE, {
  options: {
    help: { type: 'boolean', default: false },
    workload: { type: 'string', default: 'W1' },
    cell: { type: 'string', default: 'LSTM' },
    options: { type: 'string', default: '{}' },
    ir: { type: 'string' },
    seq: { type: 'string' },
    batch: { type: 'string' },
    backend: { type: 'string', default: 'wasm' },
    plugin: { type: 'string' },
    steps: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    peak: { type: 'boolean', default: false },
  },
});

const workloads: Record<string, { layers: number; units: number; train: boolean; seq?: number; batch?: number }> = {
  W1: { layers: 1, units: 128, train: true },
  W2: { layers: 4, units: 64, train: true },
  W3: { layers: 1, units: 128, train: false },
  M: { layers: 16, units: 64, train: true, seq: 784, batch: 100 },
  G: { layers: 4, units: 1024, train: true, seq: 100, batch: 256 },
  L: { layers: 2, units: 512, train: true, seq: 100, batch: 128 },
};

async function main() {
  const rt = await createRuntime({ backend: args.backend as BackendChoice });
  for (const pkg of CELL_PACKAGES) {
    try {
      const mod = (await import(pkg)) as { cells?: CellPlugin[] };
      for (const c of mod.cells ?? []) rt.use(c);
    } catch {
      // package not built or not installed: its cells are simply not benchmarked
    }
  }
  // A plugin outside the workspaces (e.g. examples/plugin-mgu/src/index.ts): its `cells` are registered too.
  if (args.plugin) for (const c of ((await import(pathToFileURL(path.resolve(args.plugin)).href)) as { cells: CellPlugin[] }).cells) rt.use(c);
  const w = workloads[args.workload];
  if (!w && !args.ir) throw new Error(`--workload must be one of ${Object.keys(workloads).join(', ')}`);
  // The size option is the cell's first positional one ('units'; NRU: 'hidden').
  const sizeOption = args.ir ? 'units' : (rt.cell(args.cell!).positional?.[0] ?? 'units');
  const T = Number(args.seq ?? w?.seq ?? 100);
  const B = Number(args.batch ?? w?.batch ?? 32);
  const ir: ModelIR = args.ir
    ? JSON.parse(await readFile(args.ir, 'utf8'))
    : {
        input: { shape: [T, 10] },
        layers: [{ cell: args.cell, options: { [sizeOption]: w.units, ...JSON.parse(args.options) }, repeat: w.layers }, { type: 'dense', units: 10, activation: 'softmax' }],
        seed: 1,
      };
  const train = args.ir ? true : w.train;
  const model = rt.build(ir);
  const [inT, F] = ir.input.shape;
  const steps = Number(inT ?? T);
  const outShape = model.outputs[0].shape;
  model.compile({ optimizer: createOptimizer(model, { learningRate: 1e-3, clipNorm: 1 }), loss: 'categoricalCrossentropy' });
  const x = tf.cast(tf.oneHot(tf.randomUniform([B, steps], 0, F, 'int32', 1), F), 'float32') as tf.Tensor3D;
  const y = tf.oneHot(tf.randomUniform(outShape.length === 3 ? [B, steps] : [B], 0, outShape[outShape.length - 1] as number, 'int32', 2), outShape[outShape.length - 1] as number);
  const once = async () => {
    if (train) await model.trainOnBatch(x, y);
    else {
      const pred = model.predict(x) as tf.Tensor;
      if (rt.backend.name === 'webgpu') await pred.data(); // GPU work is asynchronous: wait for it
      pred.dispose();
    }
  };
  for (let i = 0; i < Number(args.warmup); i++) await once();
  const macs = await productsPerStep(once);
  const n = Number(args.steps);
  const direct0 = directSteps();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i++) await once();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  // --peak: the addon's one-thread matmul rate in this process right after its timed steps, so that the
  // step's fraction of it does not depend on how fast this shared machine ran at some other moment.
  const peak = args.peak && nativeKernels().active ? addonPeak(settings().threads)?.best : undefined;
  // A whole-sequence kernel ran: the cell's hand-written one or its traced step.
  const kernel = layerPaths(model)[0]?.path ?? null;
  const fused = fusedKernelsActive() && (kernel === 'hand-written' || kernel === 'traced');
  // webgpu: the cell's WGSL kernel ('gpu') or the step loop; steps are timed through the loss read-back.
  const gpu = gpuKernelsActive() && model.layers.some((l) => (l as { cell?: CellInstance }).cell?.gpuFused);
  console.log(
    JSON.stringify({
      workload: args.ir ? 'custom' : args.workload,
      cell: args.ir ? 'custom' : args.cell,
      mode: train ? 'train' : 'infer',
      backend: rt.backend.name,
      path: fused ? 'fused' : gpu ? 'gpu' : 'generic',
      ...(rt.backend.adapter ? { adapter: rt.backend.adapter } : {}),
      // What the first cell layer ran: 'hand-written', 'traced' (CELLSTACK_KERNELS=traced) or 'step loop: <reason>'.
      kernel,
      // Where a traced kernel's program ran: the addon's interpreter ('native') or the wasm module's.
      ...(kernel === 'traced' ? { tracedOn: nativeKernels().traced ? 'native' : 'wasm' } : {}),
      // The dense head over every step (and, training, its categorical cross-entropy): one op each on the wasm heap, or tf's ops.
      head: accelState().on && accelState().patches.includes('Dense') ? 'fused' : 'tf',
      // Training: whether the steps ran the direct training step (accel/train-step.ts) or tfjs-layers' own.
      ...(train ? { trainStep: directSteps() - direct0 === n ? 'direct' : 'tf' } : {}),
      // The instruction set of the native addon's products (fused path, addon active), else null.
      native: fused && nativeKernels().active ? nativeKernels().isa : null,
      seq: steps,
      batch: B,
      params: model.countParams(),
      threads: fused && nativeKernels().active ? nativeKernels().threads : 1,
      stepsPerSec: +(n / seconds).toFixed(3),
      // Multiply-adds of every matrix product in one step (2 FLOPs each), and the rate achieved over the whole step.
      productMacsPerStep: macs,
      gflops: macs === null ? null : +((2 * macs * n) / seconds / 1e9).toFixed(1),
      ...(peak && macs !== null ? { peakGflops: peak, ofPeak: +((2 * macs * n) / seconds / 1e9 / peak / nativeKernels().threads).toFixed(3) } : {}),
      secondsPerStep: +(seconds / n).toFixed(2),
      // CPU time of this process per step (all its threads): steadier than steps/s on a loaded machine.
      cpuMsPerStep: +((cpu.user + cpu.system) / 1000 / n).toFixed(1),
      tokensPerSec: Math.round((n * B * steps) / seconds),
      peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
      numTensors: tf.memory().numTensors,
    }),
  );
}

/**
 * The multiply-adds of one step's matrix products, counted on one extra untimed step: fused
 * kernels' products all go through the native addon for it (where they are counted), tf matmuls
 * through the wasm backend's replacement. Null when a fused kernel's products would stay
 * uncounted in wasm (no addon, or CELLSTACK_NATIVE=0) or tf's own matmul runs (not wasm).
 */
async function productsPerStep(once: () => Promise<void>): Promise<number | null> {
  const fused = fusedKernelsActive();
  if ((fused && !nativeKernels().active) || tf.getBackend() !== 'wasm' || !settings().accel) return null;
  const { nativeMinProduct } = settings();
  configure({ nativeMinProduct: 1 });
  const before = productMultiplyAdds();
  await once();
  configure({ nativeMinProduct });
  return productMultiplyAdds() - before;
}

main().catch((e) => {
  console.error(`bench: ${(e as Error).message}`);
  process.exit(1);
});
