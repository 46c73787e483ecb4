import * as path from 'node:path';
import { isCellLayer, type BackendChoice } from '@cellstack/core';
import { depthRatio, gradFlow, writeGradFlow, type LatticeLayer } from '@cellstack/analysis';
import { CliError, EXIT } from './errors.js';
import { cliRuntime } from './runtime.js';
import { compileSpec } from './spec.js';

export interface GradFlowFlags {
  time: number;
  runs: number;
  batch: number;
  alpha: number;
  seed?: number;
  out?: string;
  backend?: BackendChoice;
  allow?: string[];
}

const out = (s: string) => process.stdout.write(`${s}\n`);

/**
 * `cellstack gradflow`: the STAR paper's gradient-flow lattice (§3.1, Figure 2) for the
 * spec's stack of cells. The head after the last cell plays no part: the loss reads the
 * top cell's outputs directly, as in the paper.
 */
export async function gradflow(file: string, flags: GradFlowFlags): Promise<number> {
  const { runtime } = await cliRuntime(flags.backend ?? 'auto');
  const spec = await compileSpec(file, { runtime, build: false, allow: flags.allow, seed: flags.seed });
  const layers: LatticeLayer[] = [];
  const lastCell = spec.ir.layers.findLastIndex(isCellLayer);
  for (const [i, layer] of spec.ir.layers.entries()) {
    if (i > lastCell) break;
    if (!isCellLayer(layer)) {
      const type = (layer as { type: string }).type;
      throw new CliError(`${file}: error: gradflow needs a plain stack of cells, but layer ${i + 1} is '${type}'`, EXIT.input, ['  hint: the lattice is defined for cells fed by cells; move other layers after the last cell']);
    }
    for (let r = 0; r < (layer.repeat ?? 1); r++) layers.push({ plugin: runtime.cell(layer.cell), options: layer.options ?? {} });
  }
  if (!layers.length) throw new CliError(`${file}: error: gradflow needs at least one cell layer`, EXIT.input);
  const inputSize = spec.ir.input.shape[1];
  out(`${file}: ${layers.length} cell layers × ${flags.time} steps, ${flags.runs} draws of ${flags.batch} sequences (backend ${runtime.backend.name})`);
  const g = gradFlow({ layers, inputSize, time: flags.time, runs: flags.runs, batch: flags.batch, alpha: flags.alpha, seed: spec.seed });
  const dir = flags.out ?? path.join('runs', `gradflow-${path.basename(file, '.rnn')}`);
  const files = await writeGradFlow(path.join(dir, 'gradflow'), g, `Gradient flow, ${path.basename(file)}`);
  out(`first-to-last-layer gradient ratio: ${depthRatio(g.final).toPrecision(3)} (loss on the final output), ${depthRatio(g.all).toPrecision(3)} (loss on all outputs)`);
  const fmt = (v: number[]) => v.map((m) => m.toPrecision(3)).join(', ');
  out(`mean |∂loss/∂θ| per layer, first to last: ${fmt(g.params.final)} (final output); ${fmt(g.params.all)} (all outputs)`);
  out(`wrote ${files.svg}, ${files.png}, ${files.json}`);
  return EXIT.ok;
}
