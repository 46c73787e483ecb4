import { describe, expect, it } from 'vitest';
import { PAPERS, verdictOf } from '../src/papers.js';
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

  it('every experiment names specs it defines, and budgets where quick is the smaller', () => {
    for (const [name, paper] of Object.entries(PAPERS)) {
      for (const e of paper.experiments) {
        for (const s of [...e.better, e.control]) expect(Object.keys(e.specs), `${name}/${e.id}`).toContain(s);
        expect(e.budgets.quick.steps * e.budgets.quick.seeds).toBeLessThan(e.budgets.paper.steps * e.budgets.paper.seeds);
      }
    }
  });
});

describe('reproduce: bad input', () => {
  it('names the unknown paper and the known ones', async () => {
    await expect(reproduce('lstm', flags)).rejects.toThrow("unknown paper 'lstm': one of nru, ur, star, rru, dmu");
  });

  it('names the unknown experiment and the paper’s experiments', async () => {
    await expect(reproduce('ur', { ...flags, experiment: ['copy-500'] })).rejects.toThrow("unknown experiment 'copy-500' of ur: one of copy-200, copy-200-ablations");
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
