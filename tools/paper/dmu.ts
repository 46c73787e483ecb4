/**
 * Paper check for DMU: Figure 2 (Adding) of Neumann et al. in miniature. Several
 * seeds per module on the H&S adding problem with the paper's ~100-weight budgets
 * (Table 1) and learning rates (Table 6); for each loss threshold, the fraction of
 * runs whose validation MSE has reached it by each training step.
 *
 *   nice -n 10 npx tsx --conditions=@cellstack/source tools/paper/dmu.ts
 *
 * Writes packages/cell-dmu/paper/adding.json and adding-thresholds/adding-loss charts.
 */
import { promises as fs } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { createOptimizer, createRng, createRuntime, type ModelIR } from '@cellstack/core';
import { addingHSTask, toTensors } from '@cellstack/tasks';
import { lineSpec, writeChart } from '@cellstack/viz';
import { DMU } from '@cellstack/cell-dmu';
import { quantile, taskIR } from '../src/experiment.js';

const OUT = new URL('../../packages/cell-dmu/paper/', import.meta.url).pathname;
const LENGTH = 20; // the paper's minimum length is 100; 20 keeps 24 runs within ~12 CPU minutes
const STEPS = 600; // the paper allows 100 epochs × 200 steps
const BATCH = 32;
const EVAL_EVERY = 20;
const VAL_SIZE = 512;
const SEEDS = [1, 2, 3, 4, 5, 6];
const THRESHOLDS = [1e-2, 5e-3, 2e-3, 1e-3, 5e-4];

interface Arm {
  name: string;
  /** The paper's notation (Table 1) and weights count there (PyTorch, two bias vectors per LSTM/GRU layer). */
  paper: string;
  layers: ModelIR['layers'];
  learningRate: number;
}

// Table 1 (Adding) architectures, Table 6 (Adding) learning rates; Adam, batch 32, as the authors' code.
const ARMS: Arm[] = [
  { name: 'DMU', paper: '((5, 5)), 106 weights', layers: [{ cell: 'DMU', options: { units: 5, layers: [5] } }], learningRate: 0.02 },
  { name: 'DMU, one rate', paper: 'same, depthScaledLr off (the authors’ code)', layers: [{ cell: 'DMU', options: { units: 5, layers: [5], depthScaledLr: false } }], learningRate: 0.02 },
  { name: 'LSTM', paper: '(2, 2), 99 weights', layers: [{ cell: 'LSTM', options: { units: 2 } }, { cell: 'LSTM', options: { units: 2 } }], learningRate: 0.001 },
  { name: 'GRU', paper: '(3, 2), 108 weights', layers: [{ cell: 'GRU', options: { units: 3 } }, { cell: 'GRU', options: { units: 2 } }], learningRate: 0.05 },
];

interface Run {
  arm: string;
  seed: number;
  params: number;
  /** Validation MSE after steps evalSteps[k]. */
  evalSteps: number[];
  valLoss: number[];
  /** First evaluated step with validation MSE below each threshold (null: never within the budget). */
  reached: Record<string, number | null>;
  cpuSeconds: number;
}

const rt = (await createRuntime()).use(DMU);
const task = addingHSTask({ length: LENGTH });
const val = toTensors(task.batch(VAL_SIZE, createRng(12345)));

async function train(arm: Arm, seed: number): Promise<Run> {
  const model = rt.build(taskIR(task, arm.layers, seed));
  model.compile({ optimizer: createOptimizer(model, { name: 'adam', learningRate: arm.learningRate, clipNorm: 1 }), loss: task.loss });
  const rng = createRng(seed + 1000);
  const run: Run = { arm: arm.name, seed, params: model.countParams(), evalSteps: [], valLoss: [], reached: {}, cpuSeconds: 0 };
  const cpu0 = process.cpuUsage();
  for (let step = 1; step <= STEPS; step++) {
    const { x, y } = toTensors(task.batch(BATCH, rng));
    await model.trainOnBatch(x, y);
    tf.dispose([x, y]);
    if (step % EVAL_EVERY !== 0) continue;
    const loss = tf.tidy(() => (model.evaluate(val.x, val.y, { batchSize: VAL_SIZE }) as tf.Scalar).dataSync()[0]);
    run.evalSteps.push(step);
    run.valLoss.push(loss);
    for (const th of THRESHOLDS) if (loss < th) run.reached[th] ??= step;
    if (loss < THRESHOLDS[THRESHOLDS.length - 1]) break; // every threshold reached
  }
  for (const th of THRESHOLDS) run.reached[th] ??= null;
  const c = process.cpuUsage(cpu0);
  run.cpuSeconds = (c.user + c.system) / 1e6;
  model.dispose();
  return run;
}

const t0 = performance.now();
const runs: Run[] = [];
for (const seed of SEEDS) {
  for (const arm of ARMS) {
    const r = await train(arm, seed);
    runs.push(r);
    const last = r.valLoss[r.valLoss.length - 1];
    console.log(`${arm.name.padEnd(14)} seed ${seed}: ${r.params} weights, val MSE ${last.toExponential(2)} after ${r.evalSteps.at(-1)} steps (${r.cpuSeconds.toFixed(0)} s cpu)`);
  }
}
tf.dispose([val.x, val.y]);

const evalGrid = Array.from({ length: STEPS / EVAL_EVERY }, (_, k) => (k + 1) * EVAL_EVERY);
const summary = ARMS.map((arm) => {
  const mine = runs.filter((r) => r.arm === arm.name);
  const finalLoss = mine.map((r) => r.valLoss[r.valLoss.length - 1]);
  return {
    arm: arm.name,
    paper: arm.paper,
    params: mine[0].params,
    learningRate: arm.learningRate,
    medianFinalValLoss: quantile(finalLoss, 0.5),
    thresholds: THRESHOLDS.map((th) => {
      const steps = mine.map((r) => r.reached[th]).filter((s): s is number => s !== null);
      return { threshold: th, fractionReached: steps.length / mine.length, medianStepsWhenReached: steps.length ? quantile(steps, 0.5) : null };
    }),
  };
});

const wallSeconds = (performance.now() - t0) / 1000;
const result = {
  claim: 'Figure 2 (Adding): DMU reaches the loss thresholds in more runs and sooner than LSTM and GRU of matching weight counts',
  setup: {
    task: `${task.description}; validation set of ${VAL_SIZE} fixed sequences; baseline MSE ${task.baseline}`,
    length: LENGTH,
    steps: STEPS,
    batch: BATCH,
    evalEvery: EVAL_EVERY,
    seeds: SEEDS,
    thresholds: THRESHOLDS,
    optimizer: 'Adam (Table 6 learning rates), global-norm clipping at 1',
    backend: rt.backend.name,
  },
  summary,
  runs,
  wallSeconds,
  cpuSeconds: runs.reduce((a, r) => a + r.cpuSeconds, 0),
};
await fs.mkdir(OUT, { recursive: true });
await fs.writeFile(`${OUT}adding.json`, `${JSON.stringify(result, null, 2)}\n`);

// Fraction of runs that reached each threshold by each step: the paper's Figure 2 form.
const rows = ARMS.flatMap((arm) =>
  THRESHOLDS.flatMap((th) => {
    const mine = runs.filter((r) => r.arm === arm.name);
    return [0, ...evalGrid].map((step) => ({
      module: arm.name,
      threshold: `MSE < ${th}`,
      order: THRESHOLDS.indexOf(th),
      step,
      fraction: mine.filter((r) => r.reached[th] !== null && r.reached[th]! <= step).length / mine.length,
    }));
  }),
);
await writeChart(`${OUT}adding-thresholds`, {
  $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
  title: `Adding (H&S, length ${LENGTH}): fraction of ${SEEDS.length} runs below each validation-MSE threshold`,
  background: 'white',
  data: { values: rows },
  facet: { column: { field: 'threshold', type: 'nominal', sort: { field: 'order' }, title: null } },
  spec: {
    width: 170,
    height: 180,
    mark: { type: 'line', interpolate: 'step-after', strokeWidth: 2 },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'training step' },
      y: { field: 'fraction', type: 'quantitative', title: 'fraction of runs', scale: { domain: [0, 1] } },
      color: { field: 'module', type: 'nominal', title: null },
      strokeDash: { field: 'module', type: 'nominal', title: null },
    },
  },
} as never);

await writeChart(
  `${OUT}adding-loss`,
  lineSpec({
    title: `Adding (H&S, length ${LENGTH}): validation MSE, median and quartiles over ${SEEDS.length} seeds`,
    xLabel: 'training step',
    yLabel: 'validation MSE',
    logY: true,
    rules: [{ y: task.baseline, label: `predict the mean (${task.baseline})` }],
    series: ARMS.map((arm) => {
      const mine = runs.filter((r) => r.arm === arm.name);
      // A run that stopped early (all thresholds reached) keeps its last value.
      const at = (r: Run, step: number) => {
        const k = r.evalSteps.findIndex((s) => s >= step);
        return r.valLoss[k < 0 ? r.valLoss.length - 1 : k];
      };
      return {
        name: arm.name,
        points: evalGrid.map((step) => {
          const v = mine.map((r) => at(r, step));
          return { x: step, y: quantile(v, 0.5), lo: quantile(v, 0.25), hi: quantile(v, 0.75) };
        }),
      };
    }),
  }),
);

for (const s of summary) {
  console.log(`${s.arm.padEnd(14)} ${String(s.params).padStart(4)} weights, median final val MSE ${s.medianFinalValLoss.toExponential(2)}; reached: ${s.thresholds.map((t) => `${t.threshold}: ${(100 * t.fractionReached).toFixed(0)}%`).join(', ')}`);
}
console.log(`wall ${wallSeconds.toFixed(0)} s, cpu ${result.cpuSeconds.toFixed(0)} s`);
