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
