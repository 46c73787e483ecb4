import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PAPERS, verdictOf, type Experiment, type Paper } from '../src/papers.js';
import { reproduce } from '../src/reproduce.js';

const copy200 = PAPERS.ur.experiments.find((e) => e.id === 'copy-200')!;
const flags = { budget: 'quick' as const, docs: 'unused', backend: 'cpu' as const, progress: 'none' as const, valSize: 1 };

describe('reproduce: verdicts', () => {
  it('reproduced: every claimed cell below its threshold, the control at the baseline', () => {
    const v = verdictOf(copy200, { 'UR-LSTM': 0.85, 'UR-GRU': 0.8, LSTM: 1.0 });
    expect(v.verdict).toBe('reproduced');
    expect(v.reason).toBe('UR-LSTM 85 %, UR-GRU 80 % of the baseline vs LSTM 100 %: every claimed cell below 90 %, the control at or above 99 %');
  });

  it('direction only: below the baseline and the control, one claimed cell short of the threshold', () => {
    expect(verdictOf(copy200, { 'UR-LSTM': 0.85, 'UR-GRU': 0.95, LSTM: 1.0 }).verdict).toBe('direction only');
  });

  it('not reproduced: a claimed cell still above the baseline, however it compares with the control', () => {
    const v = verdictOf(PAPERS.nru.experiments[0], { NRU: 1.7, LSTM: 2.7 });
    expect(v.verdict).toBe('not reproduced');
    expect(v.reason).toMatch(/not below the memoryless baseline at this budget$/);
  });

  it('not reproduced: the control ends lower than a claimed cell', () => {
    expect(verdictOf(copy200, { 'UR-LSTM': 0.95, 'UR-GRU': 0.95, LSTM: 0.9 }).reason).toMatch(/do not end below the control$/);
  });

  it('every experiment names specs it defines in every budget, and budgets where quick is the smaller', () => {
    for (const [name, paper] of Object.entries(PAPERS)) {
      for (const e of paper.experiments) {
        const judged = e.groups ? [...e.better, e.control].flatMap((g) => e.groups![g]) : [...e.better, e.control];
        for (const b of ['quick', 'paper'] as const) {
          for (const s of judged) expect(e.budgets[b].specs ?? Object.keys(e.specs), `${name}/${e.id} ${b}`).toContain(s);
        }
        for (const s of [...Object.keys(e.lr ?? {}), ...Object.keys(e.sweep?.points ?? {})]) expect(Object.keys(e.specs), `${name}/${e.id}`).toContain(s);
        expect(e.budgets.quick.steps * e.budgets.quick.seeds).toBeLessThan(e.budgets.paper.steps * e.budgets.paper.seeds);
      }
    }
  });

  const star = (id: string) => PAPERS.star.experiments.find((e) => e.id === id)!;

  it('accuracy: higher is better; reproduced needs the claimed cell at its threshold and the control below its own', () => {
    const e = star('pmnist-depth');
    expect(verdictOf(e, { 'STAR x12': 0.62, 'LSTM x12': 0.11 })).toEqual({
      verdict: 'reproduced',
      reason: 'STAR x12 62.0 % accuracy vs LSTM x12 11.0 %: every claimed cell at or above 50.0 %, the control below 20.0 %',
    });
    expect(verdictOf(e, { 'STAR x12': 0.4, 'LSTM x12': 0.11 }).verdict).toBe('direction only');
    expect(verdictOf(e, { 'STAR x12': 0.6, 'LSTM x12': 0.3 }).verdict).toBe('direction only');
    expect(verdictOf(e, { 'STAR x12': 0.1, 'LSTM x12': 0.1 }).reason).toMatch(/do not end above the control$/);
  });

  it('decades: lower is better; the LSTM a decade from level, STAR within half of one', () => {
    const e = star('gradient-lattice');
    expect(verdictOf(e, { 'STAR x8': 0.01, 'LSTM x8': 1.7 }).verdict).toBe('reproduced');
    expect(verdictOf(e, { 'STAR x8': 0.7, 'LSTM x8': 2.8 }).reason).toBe(
      'STAR x8 0.70 decades vs LSTM x8 2.80 decades: the claimed cells end closer to level than the control, but not past the thresholds (0.50 decades / 1.00 decades)',
    );
    expect(verdictOf(e, { 'STAR x8': 2, 'LSTM x8': 1 }).verdict).toBe('not reproduced');
  });

  it('reach: DMU at or above half, the GRU below', () => {
    const e = PAPERS.dmu.experiments.find((x) => x.id === 'adding-hs')!;
    expect(verdictOf(e, { DMU: 0.8, GRU: 0.3, LSTM: 0 }).verdict).toBe('reproduced');
    expect(verdictOf(e, { DMU: 0.8, GRU: 0.6, LSTM: 0 }).verdict).toBe('direction only');
    expect(verdictOf(e, { DMU: 0.2, GRU: 0.6, LSTM: 0 }).verdict).toBe('not reproduced');
  });

  it('grid: counts the grid cells each cell trains in', () => {
    const e = PAPERS.rru.experiments.find((x) => x.id === 'lr-size-grid')!;
    const value = Object.fromEntries(Object.keys(e.specs).map((s) => [s, 1]));
    for (const s of ['RRU 16 lr 0.001', 'RRU 16 lr 0.01', 'RRU 64 lr 0.001', 'GRU 64 lr 0.01']) value[s] = 0.05;
    expect(verdictOf(e, value)).toEqual({
      verdict: 'reproduced',
      reason: 'RRU trains (final loss < 10 % of the baseline) in 3/6 grid cells, GRU trains (final loss < 10 % of the baseline) in 1/6 grid cells: more than the control, and at least half',
    });
    value['RRU 64 lr 0.001'] = 1;
    expect(verdictOf(e, value).verdict).toBe('direction only');
    value['GRU 16 lr 0.01'] = 0.01;
    expect(verdictOf(e, value).verdict).toBe('not reproduced');
  });
});

describe('reproduce: bad input', () => {
  it('names the unknown paper and the known ones', async () => {
    await expect(reproduce('lstm', flags)).rejects.toThrow("unknown paper 'lstm': one of nru, ur, star, rru, dmu");
  });

  it('names the unknown experiment and the paper’s experiments', async () => {
    await expect(reproduce('ur', { ...flags, experiment: ['copy-500'] })).rejects.toThrow("unknown experiment 'copy-500' of ur: one of copy-200, copy-200-256, copy-200-ablations");
  });
});

describe('reproduce --render-only', () => {
  it('rewrites the page from the stored JSON, verdicts by the current rules, nothing trained', async () => {
    const { mkdtemp, readFile, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const docs = await mkdtemp(join(tmpdir(), 'cellstack-repro-'));
    const rows = [
      { spec: 'UR-LSTM', params: 19849, finalLoss: { median: 1.7959, min: 1.7959, max: 1.7959 } },
      { spec: 'UR-GRU', params: 19849, finalLoss: { median: 1.872, min: 1.872, max: 1.872 } },
      { spec: 'LSTM', params: 19785, finalLoss: { median: 2.0807, min: 2.0807, max: 2.0807 } },
    ];
    const share = Object.fromEntries(rows.map((r) => [r.spec, r.finalLoss.median / Math.log(8)]));
    const stored = { id: 'copy-200', budget: { steps: 3000, seeds: 1 }, baseline: Math.log(8), rows, share, verdict: { verdict: 'stale', reason: 'stale' }, seconds: 1044, chart: 'ur-copy-200' };
    await writeFile(join(docs, 'ur.json'), JSON.stringify({ budget: 'paper', experiments: [stored] }));
    await reproduce('ur', { ...flags, docs, renderOnly: true });
    const md = await readFile(join(docs, 'ur.md'), 'utf8');
    expect(md).toContain('3000 steps × 1 seed(s) (**reduced** from the \'paper\' budget\'s 3000 steps × 2 seed(s)');
    expect(md).toContain('| UR-GRU | `URGRU(64) -> dense(9, activation: softmax, init: uniform)` | 19849 | 1.8720 [1.8720, 1.8720] | 90.0 % |');
    expect(md).toContain('**Verdict: direction only.** UR-LSTM 86 %, UR-GRU 90 % of the baseline vs LSTM 100 %: the claimed cells end below the baseline and the control');
    // The experiment's verdictNote follows its verdict.
    expect(md).toMatch(/but not past the thresholds \(90 % \/ 99 %\)\. Nor do the settings of the one third-party code of this task \(r0mainK\/ur-lstm\)/);
    expect(md).not.toContain('stale');
    expect(md).not.toContain('copy-200-ablations');
    const json = JSON.parse(await readFile(join(docs, 'ur.json'), 'utf8'));
    expect(json.experiments.map((e: { id: string; budgetName: string }) => [e.id, e.budgetName])).toEqual([['copy-200', 'paper']]);
  });

  it('says when there is nothing stored to render', async () => {
    const { mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const docs = await mkdtemp(join(tmpdir(), 'cellstack-repro-'));
    await expect(reproduce('dmu', { ...flags, docs, renderOnly: true })).rejects.toThrow(/--render-only: no stored results in .*dmu\.json; run the experiments first/);
  });
});

/** Miniatures of each experiment kind, run end to end through the reproduce machinery (seconds). */
describe('reproduce: each experiment kind in miniature', () => {
  const base = { claim: 'c', paperReports: 'p', differences: 'd', train: { lr: 0.01, batch: 4 }, thresholds: { better: 0.5, control: 0.5 } };
  const mini = (e: Partial<Experiment> & Pick<Experiment, 'id' | 'task' | 'specs' | 'inputFeatures' | 'better' | 'control'>): Record<string, Paper> => ({
    mini: { title: 'Mini', citation: 'none', experiments: [{ title: e.id, budgets: { quick: { steps: 3, seeds: 1 }, paper: { steps: 4, seeds: 1 } }, ...base, ...e }] },
  });
  const run = async (papers: Record<string, Paper>, extra: { seeds?: number; steps?: number } = {}) => {
    const docs = await mkdtemp(join(tmpdir(), 'cellstack-repro-'));
    await reproduce('mini', { ...flags, docs, out: join(docs, 'runs'), jobs: 1, valSize: 8, ...extra }, papers);
    const json = JSON.parse(await readFile(join(docs, 'mini.json'), 'utf8'));
    return { docs, md: await readFile(join(docs, 'mini.md'), 'utf8'), o: json.experiments[0] };
  };

  it('accuracy on pixel MNIST with a depth sweep: validation accuracy judged, a chart against depth', async () => {
    const head = 'last -> dense(10, activation: softmax)';
    const { docs, md, o } = await run(
      mini({ id: 'depth', task: 'mnist(size: 7)', specs: { 'A x1': `SimpleRNN(3) -> ${head}`, 'A x2': `SimpleRNN(3) x2 -> ${head}` }, inputFeatures: 1, measure: 'accuracy', sweep: { xLabel: 'layers', points: { 'A x1': { series: 'A', x: 1 }, 'A x2': { series: 'A', x: 2 } } }, better: ['A x2'], control: 'A x1' }),
    );
    for (const r of o.rows) expect(o.value[r.spec]).toBe(r.validationMetrics.accuracy);
    expect(o.task).toBe('mnist(size: 7)');
    expect(md).toContain('| spec | model | params | final loss (median [min, max]) | validation loss | validation accuracy |');
    expect((await stat(join(docs, 'mini-depth-sweep.svg'))).size).toBeGreaterThan(0);
    expect(md).toContain('![depth: layers](mini-depth-sweep.svg)');
  }, 60_000);

  it('reach: the threshold curves count the runs below each threshold, and reach is the share of steps × runs below', async () => {
    const { docs, md, o } = await run(
      mini({ id: 'reach', task: 'temporal-order(length: 30)', specs: { D: 'DMU(2) -> last -> dense(8, activation: softmax)', G: 'GRU(2) -> last -> dense(8, activation: softmax)' }, lr: { D: 0.05, G: 0.02 }, inputFeatures: 8, measure: 'reach', reach: { thresholds: [100, 1e-9], decide: 100 }, better: ['D'], control: 'G' }),
      { seeds: 2 },
    );
    // Every loss is below 100 from the first step and none below 1e-9: reach exactly 1.
    expect(o.reach.D).toEqual([{ threshold: 100, reached: 2, medianStep: 1 }, { threshold: 1e-9, reached: 0, medianStep: null }]);
    expect(o.value).toEqual({ D: 1, G: 1 });
    expect(o.verdict.verdict).toBe('not reproduced');
    expect(md).toContain('`DMU(2) -> last -> dense(8, activation: softmax)`, lr 0.05');
    expect(md).toContain('| 2/2 (1) | 0/2 | 100.0 % |');
    expect((await stat(join(docs, 'mini-reach-thresholds.png'))).size).toBeGreaterThan(0);
  }, 60_000);

  it('lattice: cellstack gradflow per spec, judged by |log10| of its first-to-last-layer ratio', async () => {
    const { docs, md, o } = await run(mini({ id: 'lattice', task: 'gradflow', specs: { S: 'STAR(4) x2', L: 'LSTM(4) x2' }, inputFeatures: 1, lattice: true, measure: 'decades', better: ['S'], control: 'L' }));
    const { depthRatio } = await import('@cellstack/analysis');
    for (const s of ['S', 'L']) {
      const g = JSON.parse(await readFile(join(docs, 'runs', 'lattice', s, 'gradflow.json'), 'utf8'));
      expect(o.ratios[s].final).toBe(depthRatio(g.final));
      expect(o.value[s]).toBeCloseTo(Math.abs(Math.log10(depthRatio(g.final))), 12);
    }
    expect(md).toContain('`cellstack gradflow` at T = 3, 1 random draws of 4 sequences');
    expect(md).toContain('![L](mini-lattice-L.svg)');
  }, 60_000);

  it('grid: each grid cell trains at its own learning rate; the verdict counts cells below the threshold', async () => {
    const specs = { 'R lr 0.01': 'RRU(3) -> last -> dense(1)', 'R lr 0.001': 'RRU(3) -> last -> dense(1)', 'G lr 0.01': 'GRU(3) -> last -> dense(1)' };
    const { md, o } = await run(
      mini({ id: 'grid', task: 'adding(length: 5)', specs, lr: { 'R lr 0.01': 0.01, 'R lr 0.001': 0.001, 'G lr 0.01': 0.01 }, inputFeatures: 2, groups: { R: ['R lr 0.01', 'R lr 0.001'], G: ['G lr 0.01'] }, thresholds: { better: 100, control: 100 }, better: ['R'], control: 'G' }),
    );
    expect(o.verdict.reason).toBe('R trains (final loss < 10000 % of the baseline) in 2/2 grid cells, G trains (final loss < 10000 % of the baseline) in 1/1 grid cells: more than the control, and at least half');
    expect(md).toContain('`RRU(3) -> last -> dense(1)`, lr 0.001');
    expect(md).toContain('Adam at the rates below');
  }, 60_000);
});
