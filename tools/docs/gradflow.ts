/**
 * The docs' gradient-flow pictures (STAR paper §3.1, Figure 2): mean ‖∂L/∂h_t^l‖ over an
 * 8-layer × 100-step lattice of SimpleRNN, LSTM and STAR at the paper's point (orthogonal
 * weights, zero biases and states, x_t = 0.5 x_{t−1} + 0.5 z), for the loss on the final
 * output and on all outputs. Anyone can rerun it:
 *
 *   nice -n 10 npx tsx --conditions=@cellstack/source tools/docs/gradflow.ts
 *   (GRADFLOW_RUNS=n for more or fewer draws; default 20)
 *
 * Writes docs/gradflow/<cell>.{svg,png,json} and prints each first-to-last-layer ratio.
 */
import { createRuntime, LSTM, SimpleRNN, type CellPlugin } from '@cellstack/core';
import { STAR } from '@cellstack/cell-star';
import { depthRatio, gradFlow, writeGradFlow } from '@cellstack/analysis';

const OUT = new URL('../../docs/gradflow/', import.meta.url).pathname;
const CFG = { layers: 8, time: 100, units: 32, runs: Number(process.env.GRADFLOW_RUNS ?? 20), batch: 16, seed: 1 };

const rt = await createRuntime({ backend: 'auto' });
console.log(`backend ${rt.backend.name} (${rt.backend.reason}); ${JSON.stringify(CFG)}`);
for (const plugin of [SimpleRNN, LSTM, STAR] as CellPlugin[]) {
  const started = Date.now();
  const layers = Array.from({ length: CFG.layers }, () => ({ plugin, options: { units: CFG.units } }));
  const g = gradFlow({ layers, inputSize: CFG.units, time: CFG.time, runs: CFG.runs, batch: CFG.batch, seed: CFG.seed });
  const name = plugin.name.toLowerCase();
  await writeGradFlow(`${OUT}${name}`, g, `${plugin.name}: ${CFG.layers} layers × ${CFG.time} steps, ${CFG.units} units, mean over ${CFG.runs} × ${CFG.batch} draws`);
  console.log(`${plugin.name}: first/last-layer ratio ${depthRatio(g.final).toPrecision(3)} (final output), ${depthRatio(g.all).toPrecision(3)} (all outputs); ${((Date.now() - started) / 1000).toFixed(0)} s`);
}
