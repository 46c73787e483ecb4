import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { BackendChoice } from '@cellstack/core';
import { compare, type CompareRow } from './compare.js';
import { usage } from './errors.js';
import { PAPERS, verdictOf, type Budget, type Experiment, type Paper } from './papers.js';
import type { ProgressMode } from './progress.js';
import { defaultRunDir } from './run-folder.js';

export interface ReproduceFlags {
  budget: Budget;
  /** Where the pages go (default docs/reproductions). */
  docs: string;
  out?: string;
  jobs?: number;
  backend: BackendChoice;
  progress: ProgressMode;
  valSize: number;
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
  baseline: number;
  rows: CompareRow[];
  share: Record<string, number>;
  verdict: ReturnType<typeof verdictOf>;
  seconds: number;
  chart: string;
}

const specText = (e: Experiment, pipeline: string, steps: number) =>
  [
    `input [null, ${e.inputFeatures}]`,
    pipeline,
    'train {',
    `  task: ${e.task}`,
    `  optimizer: adam(lr: ${e.train.lr})`,
    `  batch: ${e.train.batch}`,
    `  steps: ${steps}`,
    '  clip: 1.0',
    '  seed: 1',
    '}',
    '',
  ].join('\n');

/** Run every experiment of a paper at a budget; write `<docs>/<paper>.{json,md}` and one chart per experiment. */
export async function reproduce(name: string, flags: ReproduceFlags): Promise<number> {
  const paper = PAPERS[name.toLowerCase()];
  if (!paper) throw usage(`unknown paper '${name}': one of ${Object.keys(PAPERS).join(', ')}`);
  if (flags.budget !== 'quick' && flags.budget !== 'paper') throw usage(`--budget must be 'quick' or 'paper' (got '${flags.budget}')`);
  const unknown = (flags.experiment ?? []).filter((id) => !paper.experiments.some((e) => e.id === id));
  if (unknown.length) throw usage(`unknown experiment '${unknown[0]}' of ${name}: one of ${paper.experiments.map((e) => e.id).join(', ')}`);
  const chosen = flags.renderOnly ? [] : paper.experiments.filter((e) => !flags.experiment?.length || flags.experiment.includes(e.id));
  const out = flags.out ?? defaultRunDir(`reproduce-${name}`);
  const outcomes: Outcome[] = [];
  for (const e of chosen) {
    const budget = { steps: flags.steps ?? e.budgets[flags.budget].steps, seeds: flags.seeds ?? e.budgets[flags.budget].seeds };
    const dir = path.join(out, e.id);
    await fs.mkdir(path.join(dir, 'specs'), { recursive: true });
    const files: string[] = [];
    for (const [label, pipeline] of Object.entries(e.specs)) {
      const file = path.join(dir, 'specs', `${label}.rnn`);
      await fs.writeFile(file, specText(e, pipeline, budget.steps));
      files.push(file);
    }
    const t0 = Date.now();
    await compare(files, { seeds: budget.seeds, backend: flags.backend, out: dir, jobs: flags.jobs, valSize: flags.valSize, progress: flags.progress });
    const result = JSON.parse(await fs.readFile(path.join(dir, 'compare.json'), 'utf8')) as { rows: CompareRow[]; task: { baseline: number } };
    const baseline = result.task.baseline;
    const share = Object.fromEntries(result.rows.map((r) => [r.spec, r.finalLoss.median / baseline]));
    const chart = `${name}-${e.id}`;
    await fs.mkdir(flags.docs, { recursive: true });
    for (const ext of ['svg', 'png']) await fs.copyFile(path.join(dir, `compare.${ext}`), path.join(flags.docs, `${chart}.${ext}`));
    outcomes.push({ experiment: e, budgetName: flags.budget, budget, baseline, rows: result.rows, share, verdict: verdictOf(e, share), seconds: (Date.now() - t0) / 1000, chart });
  }
  // Experiments not rerun keep their earlier results on the page (each states its own budget).
  const earlier = await previousOutcomes(path.join(flags.docs, `${name}.json`), paper);
  if (flags.renderOnly && !earlier.length) throw usage(`--render-only: no stored results in ${path.join(flags.docs, `${name}.json`)}; run the experiments first`);
  const all = paper.experiments.flatMap((e) => outcomes.find((o) => o.experiment === e) ?? earlier.find((o) => o.experiment === e) ?? []);
  const { writeFileAtomic } = await import('@cellstack/core');
  const json = { paper: name, date: new Date().toISOString(), experiments: all.map(({ experiment: e, ...o }) => ({ id: e.id, task: e.task, specs: e.specs, ...o })) };
  await writeFileAtomic(path.join(flags.docs, `${name}.json`), JSON.stringify(json, null, 1));
  await writeFileAtomic(path.join(flags.docs, `${name}.md`), page(name, paper, all));
  for (const o of outcomes) process.stdout.write(`${name} ${o.experiment.id}: ${o.verdict.verdict} — ${o.verdict.reason}\n`);
  process.stdout.write(`page: ${path.join(flags.docs, `${name}.md`)}\n`);
  return 0;
}

/** The outcomes stored in an earlier page's JSON, for experiments the paper still defines. */
async function previousOutcomes(file: string, paper: Paper): Promise<Outcome[]> {
  let stored: { budget?: Budget; experiments?: Array<Omit<Outcome, 'experiment' | 'budgetName'> & { id: string; budgetName?: Budget }> };
  try {
    stored = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch {
    return [];
  }
  return (stored.experiments ?? []).flatMap(({ id, ...o }) => {
    const experiment = paper.experiments.find((e) => e.id === id);
    const budgetName = o.budgetName ?? stored.budget;
    // The verdict follows the current thresholds and rules.
    return experiment && budgetName ? [{ ...o, budgetName, experiment, verdict: verdictOf(experiment, o.share) }] : [];
  });
}

const reduced = (e: Experiment, budget: Budget, ran: { steps: number; seeds: number }) => {
  const b = e.budgets[budget];
  return ran.steps < b.steps || ran.seeds < b.seeds ? ` (**reduced** from the '${budget}' budget's ${b.steps} steps × ${b.seeds} seed(s) to fit the time available)` : '';
};

const fmt = (v: number) => (Math.abs(v) >= 0.01 ? v.toFixed(4) : v.toExponential(2));

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
    parts.push(
      `## ${e.title}`,
      '',
      `**Claim.** ${e.claim}`,
      '',
      `**The paper reports.** ${e.paperReports}`,
      '',
      `**Ran here.** \`${e.task}\`, ${o.budget.steps} steps × ${o.budget.seeds} seed(s)${reduced(e, budget, o.budget)}, batch ${e.train.batch}, Adam ${e.train.lr}, clip 1; ${o.seconds.toFixed(0)} s wall time for all runs (budget '${budget}'). ${e.differences}`,
      '',
      '| spec | model | params | final loss (median [min, max]) | share of baseline |',
      '|---|---|---|---|---|',
      ...o.rows.map((r) => `| ${r.spec} | \`${e.specs[r.spec]}\` | ${r.params} | ${fmt(r.finalLoss.median)} [${fmt(r.finalLoss.min)}, ${fmt(r.finalLoss.max)}] | ${(100 * o.share[r.spec]).toFixed(1)} % |`),
      '',
      `Memoryless baseline ${fmt(o.baseline)}. Final loss = mean training loss over the last 10 % of steps of each run (median over seeds).`,
      '',
      `**Verdict: ${o.verdict.verdict}.** ${o.verdict.reason}.`,
      '',
      `![${e.title}](${o.chart}.svg)`,
      '',
    );
  }
  return parts.join('\n');
}
