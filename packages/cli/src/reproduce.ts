import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { depthRatio } from '@cellstack/analysis';
import type { BackendChoice } from '@cellstack/core';
import type { Series } from '@cellstack/viz';
import { median, smooth, smoothingWindow, thin } from './charts.js';
import { compare, type CompareRow } from './compare.js';
import { gradflow } from './gradflow.js';
import { usage } from './errors.js';
import { PAPERS, verdictOf, type Budget, type Experiment, type Paper } from './papers.js';
import type { ProgressMode } from './progress.js';
import { defaultRunDir, RunFolder } from './run-folder.js';

export interface ReproduceFlags {
  budget: Budget;
  /** Where the pages go (default docs/reproductions). */
  docs: string;
  out?: string;
  jobs?: number;
  backend: BackendChoice;
  progress: ProgressMode;
  /** Held-out examples per final validation (default: the experiment's, else 200). */
  valSize?: number;
  /** Run only these experiments (ids); the page lists only what ran. */
  experiment?: string[];
  /** Override the budget's steps or seeds (the page states what ran). */
  steps?: number;
  seeds?: number;
  /** Run nothing: rewrite the page from the stored JSON (after a change of thresholds or wording). */
  renderOnly?: boolean;
}

interface Outcome {
  experiment: Experiment;
  /** The budget asked for, and the steps and seeds that ran. */
  budgetName: Budget;
  budget: { steps: number; seeds: number };
  /** The task that ran (a budget may replace the experiment's). */
  task: string;
  baseline: number;
  rows: CompareRow[];
  /** Each spec's value of the experiment's measure (for 'loss': the share of the baseline). */
  value: Record<string, number>;
  verdict: ReturnType<typeof verdictOf>;
  seconds: number;
  chart: string;
  /** 'reach': per spec and threshold, the runs that got below it and the median step they did. */
  reach?: Record<string, Array<{ threshold: number; reached: number; medianStep: number | null }>>;
  /** Lattice: per spec, the first-to-last-layer gradient ratio (loss on the final output, on all outputs). */
  ratios?: Record<string, { final: number; all: number }>;
}

const specText = (e: Experiment, label: string, task: string, steps: number) =>
  [
    `input [null, ${e.inputFeatures}]`,
    e.specs[label],
    ...(e.lattice
      ? []
      : ['train {', `  task: ${task}`, `  optimizer: adam(lr: ${e.lr?.[label] ?? e.train.lr})`, `  batch: ${e.train.batch}`, `  steps: ${steps}`, '  clip: 1.0', '  seed: 1', '}']),
    '',
  ].join('\n');

/**
 * Run every experiment of a paper at a budget; write `<docs>/<paper>.{json,md}` and one chart per
 * experiment (`papers`: the records to draw from; tests pass miniatures).
 */
export async function reproduce(name: string, flags: ReproduceFlags, papers: Record<string, Paper> = PAPERS): Promise<number> {
  const paper = papers[name.toLowerCase()];
  if (!paper) throw usage(`unknown paper '${name}': one of ${Object.keys(papers).join(', ')}`);
  if (flags.budget !== 'quick' && flags.budget !== 'paper') throw usage(`--budget must be 'quick' or 'paper' (got '${flags.budget}')`);
  const unknown = (flags.experiment ?? []).filter((id) => !paper.experiments.some((e) => e.id === id));
  if (unknown.length) throw usage(`unknown experiment '${unknown[0]}' of ${name}: one of ${paper.experiments.map((e) => e.id).join(', ')}`);
  const chosen = flags.renderOnly ? [] : paper.experiments.filter((e) => !flags.experiment?.length || flags.experiment.includes(e.id));
  const out = flags.out ?? defaultRunDir(`reproduce-${name}`);
  const outcomes: Outcome[] = [];
  await fs.mkdir(flags.docs, { recursive: true });
  for (const e of chosen) {
    const b = e.budgets[flags.budget];
    const budget = { steps: flags.steps ?? b.steps, seeds: flags.seeds ?? b.seeds };
    const task = b.task ?? e.task;
    const labels = b.specs ?? Object.keys(e.specs);
    // Spec files beside the comparison's folder: compare refuses a folder that is not empty.
    const specDir = path.join(out, 'specs', e.id);
    await fs.mkdir(specDir, { recursive: true });
    const files: string[] = [];
    for (const label of labels) {
      const file = path.join(specDir, `${label}.rnn`);
      await fs.writeFile(file, specText(e, label, task, budget.steps));
      files.push(file);
    }
    const dir = path.join(out, e.id);
    const chart = `${name}-${e.id}`;
    const t0 = Date.now();
    const ran = e.lattice ? await lattice(e, files, labels, dir, budget, flags) : await trained(e, files, labels, dir, budget, flags, chart);
    for (const ext of ['svg', 'png']) await fs.copyFile(path.join(dir, `${e.lattice ? `${labels[0]}/gradflow` : 'compare'}.${ext}`), path.join(flags.docs, `${chart}.${ext}`));
    if (e.lattice) {
      for (const [i, label] of labels.entries()) {
        if (i) for (const ext of ['svg', 'png']) await fs.copyFile(path.join(dir, label, `gradflow.${ext}`), path.join(flags.docs, `${chart}-${slug(label)}.${ext}`));
      }
    }
    if (e.sweep) await sweepChart(e, ran.value, path.join(flags.docs, `${chart}-sweep`));
    outcomes.push({ experiment: e, budgetName: flags.budget, budget, task, ...ran, verdict: verdictOf(e, ran.value), seconds: (Date.now() - t0) / 1000, chart });
  }
  // Experiments not rerun keep their earlier results on the page (each states its own budget).
  const earlier = await previousOutcomes(path.join(flags.docs, `${name}.json`), paper);
  if (flags.renderOnly && !earlier.length) throw usage(`--render-only: no stored results in ${path.join(flags.docs, `${name}.json`)}; run the experiments first`);
  const all = paper.experiments.flatMap((e) => outcomes.find((o) => o.experiment === e) ?? earlier.find((o) => o.experiment === e) ?? []);
  const { writeFileAtomic } = await import('@cellstack/core');
  const json = { paper: name, date: new Date().toISOString(), experiments: all.map(({ experiment: e, ...o }) => ({ id: e.id, specs: e.specs, ...o })) };
  await writeFileAtomic(path.join(flags.docs, `${name}.json`), JSON.stringify(json, null, 1));
  await writeFileAtomic(path.join(flags.docs, `${name}.md`), page(name, paper, all));
  for (const o of outcomes) process.stdout.write(`${name} ${o.experiment.id}: ${o.verdict.verdict} — ${o.verdict.reason}\n`);
  process.stdout.write(`page: ${path.join(flags.docs, `${name}.md`)}\n`);
  return 0;
}

const slug = (label: string) => label.replace(/[^A-Za-z0-9.-]+/g, '-');

type Ran = Pick<Outcome, 'baseline' | 'rows' | 'value' | 'reach' | 'ratios'>;

/** Train the specs with `cellstack compare` and read the experiment's measure from its results. */
async function trained(e: Experiment, files: string[], labels: string[], dir: string, budget: { steps: number; seeds: number }, flags: ReproduceFlags, chart: string): Promise<Ran> {
  const valSize = flags.valSize ?? e.valSize ?? 200;
  await compare(files, { seeds: budget.seeds, backend: flags.backend, out: dir, jobs: flags.jobs, valSize, progress: flags.progress });
  const result = JSON.parse(await fs.readFile(path.join(dir, 'compare.json'), 'utf8')) as { rows: CompareRow[]; task: { baseline: number } };
  const baseline = result.task.baseline;
  const rows = result.rows;
  const measure = e.measure ?? 'loss';
  if (measure === 'loss') return { baseline, rows, value: Object.fromEntries(rows.map((r) => [r.spec, r.finalLoss.median / baseline])) };
  if (measure === 'accuracy') return { baseline, rows, value: Object.fromEntries(rows.map((r) => [r.spec, r.validationMetrics.accuracy])) };
  // 'reach': the paper's threshold curves from every run's smoothed training loss.
  const { thresholds, decide } = e.reach!;
  const value: Record<string, number> = {};
  const reach: NonNullable<Outcome['reach']> = {};
  const series: Series[] = [];
  for (const label of labels) {
    const seeds = await Promise.all(
      Array.from({ length: budget.seeds }, async (_, k) => {
        const losses = (await new RunFolder(path.join(dir, 'runs', `${label}-seed${k + 1}`)).readMetrics()).map((l) => l.loss);
        return smooth(losses, smoothingWindow(losses.length));
      }),
    );
    // The first step (1-based) each run is below a threshold, or null.
    const first = (t: number) => seeds.map((s) => s.findIndex((v) => v < t)).map((k) => (k < 0 ? null : k + 1));
    reach[label] = thresholds.map((t) => {
      const steps = first(t).filter((k): k is number => k !== null);
      return { threshold: t, reached: steps.length, medianStep: steps.length ? median(steps) : null };
    });
    value[label] = first(decide).reduce((a: number, k) => a + (k === null ? 0 : (budget.steps - k + 1) / budget.steps), 0) / budget.seeds;
    for (const t of thresholds) {
      const ks = first(t);
      const points = Array.from({ length: budget.steps }, (_, i) => ({ x: i + 1, y: ks.filter((k) => k !== null && k <= i + 1).length / budget.seeds }));
      series.push({ name: `${label} < ${t}`, points: thin(points) });
    }
  }
  const { lineSpec, writeChart } = await import('@cellstack/viz');
  const title = `${e.title.split(':')[0]}: share of ${budget.seeds} runs below each loss threshold`;
  await writeChart(path.join(flags.docs, `${chart}-thresholds`), lineSpec({ title, xLabel: 'step', yLabel: 'runs below the threshold (share)', series }));
  return { baseline, rows, value, reach };
}

/** `cellstack gradflow` on each spec; the measure is |log10| of its first-to-last-layer ratio. */
async function lattice(e: Experiment, files: string[], labels: string[], dir: string, budget: { steps: number; seeds: number }, flags: ReproduceFlags): Promise<Ran> {
  const ratios: NonNullable<Outcome['ratios']> = {};
  for (const [i, label] of labels.entries()) {
    await gradflow(files[i], { time: budget.steps, runs: budget.seeds, batch: e.train.batch, alpha: 0.5, seed: 0, out: path.join(dir, label), backend: flags.backend });
    const g = JSON.parse(await fs.readFile(path.join(dir, label, 'gradflow.json'), 'utf8')) as { final: number[][]; all: number[][] };
    ratios[label] = { final: depthRatio(g.final), all: depthRatio(g.all) };
  }
  return { baseline: 1, rows: [], value: Object.fromEntries(labels.map((l) => [l, Math.abs(Math.log10(ratios[l].final))])), ratios };
}

const MEASURE_LABEL = { loss: 'final loss / memoryless baseline', accuracy: 'validation accuracy', reach: 'reach', decades: '|log10 gradient ratio|' };

/** A sweep's chart: the measure against the swept quantity, one line per series. */
async function sweepChart(e: Experiment, value: Record<string, number>, base: string) {
  const { lineSpec, writeChart } = await import('@cellstack/viz');
  const byName = new Map<string, Series>();
  for (const [label, p] of Object.entries(e.sweep!.points)) {
    if (value[label] === undefined) continue;
    const s = byName.get(p.series) ?? { name: p.series, points: [] };
    s.points.push({ x: p.x, y: value[label] });
    byName.set(p.series, s);
  }
  const series = [...byName.values()].map((s) => ({ ...s, points: s.points.sort((a, b) => a.x - b.x) }));
  const measure = e.measure ?? 'loss';
  const rules = measure === 'loss' ? [{ y: 1, label: 'memoryless baseline' }] : [];
  await writeChart(base, lineSpec({ title: `${e.title.split('(')[0].trim()}: ${MEASURE_LABEL[measure]} against ${e.sweep!.xLabel}`, xLabel: e.sweep!.xLabel, yLabel: MEASURE_LABEL[measure], series, rules }));
}

/** The outcomes stored in an earlier page's JSON, for experiments the paper still defines with the same specs. */
async function previousOutcomes(file: string, paper: Paper): Promise<Outcome[]> {
  type Stored = Omit<Outcome, 'experiment' | 'budgetName' | 'value' | 'task'> & { id: string; budgetName?: Budget; value?: Record<string, number>; share?: Record<string, number>; task?: string; specs?: Record<string, string> };
  let stored: { budget?: Budget; experiments?: Stored[] };
  try {
    stored = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch {
    return [];
  }
  return (stored.experiments ?? []).flatMap(({ id, share, value, task, specs, ...o }) => {
    const experiment = paper.experiments.find((e) => e.id === id);
    const budgetName = o.budgetName ?? stored.budget;
    // A result of other specs (the record changed since) is not this experiment's.
    const same = !specs || Object.entries(specs).every(([label, pipeline]) => experiment?.specs[label] === pipeline);
    const v = value ?? share;
    if (!experiment || !budgetName || !same || !v) return [];
    // The verdict follows the current thresholds and rules.
    return [{ ...o, budgetName, experiment, task: task ?? experiment.task, value: v, verdict: verdictOf(experiment, v) }];
  });
}

const reduced = (e: Experiment, budget: Budget, ran: { steps: number; seeds: number }) => {
  const b = e.budgets[budget];
  return ran.steps < b.steps || ran.seeds < b.seeds ? ` (**reduced** from the '${budget}' budget's ${b.steps} steps × ${b.seeds} seed(s) to fit the time available)` : '';
};

const fmt = (v: number) => (Math.abs(v) >= 0.01 ? v.toFixed(4) : v.toExponential(2));
const pct1 = (v: number) => `${(100 * v).toFixed(1)} %`;

/** The results table of one experiment, with the columns its measure needs. */
function table(o: Outcome): string[] {
  const e = o.experiment;
  if (o.ratios) {
    return [
      '| spec | cells | first-to-last-layer gradient ratio (loss on the final output) | (loss on all outputs) | decades from level |',
      '|---|---|---|---|---|',
      ...Object.entries(o.ratios).map(([s, r]) => `| ${s} | \`${e.specs[s]}\` | ${r.final.toPrecision(3)} | ${r.all.toPrecision(3)} | ${o.value[s].toFixed(2)} |`),
      '',
      'Ratio = mean gradient magnitude at the first layer / at the last (> 1: it grows towards the input, < 1: it vanishes).',
    ];
  }
  const loss = (r: CompareRow) => `${fmt(r.finalLoss.median)} [${fmt(r.finalLoss.min)}, ${fmt(r.finalLoss.max)}]`;
  const model = (r: CompareRow) => `\`${e.specs[r.spec]}\`${e.lr ? `, lr ${e.lr[r.spec]}` : ''}`;
  const note = `Memoryless baseline ${fmt(o.baseline)}. Final loss = mean training loss over the last 10 % of steps of each run (median over seeds).`;
  if (o.reach) {
    const ts = e.reach!.thresholds;
    return [
      `| spec | model | params | final loss (median [min, max]) | ${ts.map((t) => `runs < ${t} (median step)`).join(' | ')} | reach at ${e.reach!.decide} |`,
      `|---|---|---|---|${ts.map(() => '---').join('|')}|---|`,
      ...o.rows.map((r) => `| ${r.spec} | ${model(r)} | ${r.params} | ${loss(r)} | ${o.reach![r.spec].map((x) => `${x.reached}/${o.budget.seeds}${x.medianStep !== null ? ` (${x.medianStep})` : ''}`).join(' | ')} | ${pct1(o.value[r.spec])} |`),
      '',
      `${note} A run is below a threshold from the first step its smoothed training loss (moving mean of steps/25, at most 50) is; reach = the share of steps × runs already below ${e.reach!.decide}. [Threshold curves](${o.chart}-thresholds.svg).`,
    ];
  }
  if (e.measure === 'accuracy') {
    return [
      '| spec | model | params | final loss (median [min, max]) | validation loss | validation accuracy |',
      '|---|---|---|---|---|---|',
      ...o.rows.map((r) => `| ${r.spec} | ${model(r)} | ${r.params} | ${loss(r)} | ${fmt(r.validationLoss)} | ${pct1(o.value[r.spec])} |`),
      '',
      note,
    ];
  }
  return [
    '| spec | model | params | final loss (median [min, max]) | share of baseline |',
    '|---|---|---|---|---|',
    ...o.rows.map((r) => `| ${r.spec} | ${model(r)} | ${r.params} | ${loss(r)} | ${pct1(o.value[r.spec])} |`),
    '',
    note,
  ];
}

/** The markdown page of one paper: per experiment the paper's report beside ours, the compute, the verdict. */
export function page(name: string, paper: Paper, outcomes: Outcome[]): string {
  const parts = [
    `# ${paper.title}`,
    '',
    `${paper.citation}. Written by \`cellstack reproduce ${name}\` (last run ${new Date().toISOString().slice(0, 10)}); rerun it to regenerate this page. Each section states its budget and the steps and seeds that actually ran; where they are below the budget's (\`--steps\`, \`--seeds\`), the section says so.`,
    '',
  ];
  for (const o of outcomes) {
    const e = o.experiment;
    const budget = o.budgetName;
    const ran = e.lattice
      ? `\`cellstack gradflow\` at T = ${o.budget.steps}, ${o.budget.seeds} random draws of ${e.train.batch} sequences${reduced(e, budget, o.budget)}`
      : `\`${o.task}\`, ${o.budget.steps} steps × ${o.budget.seeds} seed(s)${reduced(e, budget, o.budget)}, batch ${e.train.batch}, Adam ${e.lr ? 'at the rates below' : e.train.lr}, clip 1`;
    parts.push(
      `## ${e.title}`,
      '',
      `**Claim.** ${e.claim}`,
      '',
      `**The paper reports.** ${e.paperReports}`,
      '',
      `**Ran here.** ${ran}; ${o.seconds.toFixed(0)} s wall time for all runs (budget '${budget}'). ${e.differences}`,
      '',
      ...table(o),
      '',
      `**Verdict: ${o.verdict.verdict}.** ${o.verdict.reason}.${e.verdictNote ? ` ${e.verdictNote}` : ''}`,
      '',
      `![${e.title}](${o.chart}.svg)`,
      '',
      ...(e.sweep ? [`![${e.title}: ${e.sweep.xLabel}](${o.chart}-sweep.svg)`, ''] : []),
      ...(e.lattice ? Object.keys(o.ratios ?? {}).slice(1).flatMap((s) => [`![${s}](${o.chart}-${slug(s)}.svg)`, '']) : []),
    );
  }
  return parts.join('\n');
}
