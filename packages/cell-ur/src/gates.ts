/**
 * The UR gating mechanism and its ablations (Gu et al. 2020, §2 and Appendix B),
 * shared by URLSTM and URGRU. A cell hands this module the pre-activations of its
 * "gate block" and gets back the retention gate g it should use in place of the
 * forget gate, plus the input gate when the mechanism has an untied one.
 *
 * Two independent axes (paper §2.6):
 *   main gate  — `activation` sigmoid | cumax, `init` standard | chrono | uniform (UGI);
 *   auxiliary  — `refine` none | refine (eq. 12/16) | master (ON-LSTM, eqs 19–23).
 */
import * as tf from '@tensorflow/tfjs-core';
import { init as inits, stepSeeds, type CellInstance, type Init, type JsonSchema, type Params, type StepContext } from '@cellstack/core';

export type GateInit = 'standard' | 'chrono' | 'uniform';
export type Refine = 'none' | 'refine' | 'master';
export type Activation = 'sigmoid' | 'cumax';
export type WeightInit = 'uniform' | 'glorot';
export type Preset = '-' | 'C-' | 'U-' | 'R-' | 'UR-' | 'O-' | 'OM-' | 'UM-' | 'OR-';

/** The paper's Table 1 rows as option triples. */
export const PRESETS: Record<Preset, { init: GateInit; refine: Refine; activation: Activation }> = {
  '-': { init: 'standard', refine: 'none', activation: 'sigmoid' },
  'C-': { init: 'chrono', refine: 'none', activation: 'sigmoid' },
  'U-': { init: 'uniform', refine: 'none', activation: 'sigmoid' },
  'R-': { init: 'standard', refine: 'refine', activation: 'sigmoid' },
  'UR-': { init: 'uniform', refine: 'refine', activation: 'sigmoid' },
  'O-': { init: 'standard', refine: 'none', activation: 'cumax' },
  'OM-': { init: 'standard', refine: 'master', activation: 'cumax' },
  'UM-': { init: 'uniform', refine: 'master', activation: 'sigmoid' },
  'OR-': { init: 'standard', refine: 'refine', activation: 'cumax' },
};

export const PRESET_NAMES = Object.keys(PRESETS) as Preset[];
/** The canonical preset of a (possibly lower-cased) name. */
const presetOf = (name: string) => PRESETS[name.toUpperCase() as Preset];

/** Gate options common to both cells (as the user gives them; gate axes may be absent). */
export interface GateOptions {
  units: number;
  preset: Preset;
  init?: GateInit;
  refine?: Refine;
  activation?: Activation;
  tmax?: number;
  forgetBias: number;
  chunkSize: number;
  gateBias: 'trained' | 'frozen';
  refineBias: 'tied' | 'independent';
  weightInit: WeightInit;
}

/** JSON-schema properties of the gate options (each cell adds its own, e.g. zoneout). */
export const gateSchema: Record<string, JsonSchema> = {
  units: { type: 'integer', minimum: 1, default: 128, description: 'hidden state size d' },
  preset: {
    // Lower-case forms too: tfjs's config conversion stores string values lower-cased
    // ('UR-' → 'ur-'), so saved models must load with them.
    enum: [...PRESET_NAMES, ...PRESET_NAMES.filter((p) => p !== p.toLowerCase()).map((p) => p.toLowerCase())],
    default: 'UR-',
    description: "gate mechanism by the paper's Table 1 name (case-insensitive); fills init, refine and activation unless they are given",
  },
  init: {
    enum: ['standard', 'chrono', 'uniform'],
    description: "main forget-gate bias: 'standard' (forgetBias), 'chrono' (log U[1, tmax−1], input/refine bias −b_f), 'uniform' (UGI: logit U[1/d, 1−1/d]); default from preset",
  },
  refine: {
    enum: ['none', 'refine', 'master'],
    description: "auxiliary gate: 'refine' (g = r(1−(1−f)²) + (1−r)f², input tied to 1−g) or 'master' (ON-LSTM master gates); default from preset",
  },
  activation: { enum: ['sigmoid', 'cumax'], description: "activation of the main gate; 'cumax' = cumsum∘softmax over units (ordered gates); default from preset" },
  tmax: { type: 'number', exclusiveMinimum: 2, description: "T_max of chrono init (only with init 'chrono'); default units (paper §3: proportional to hidden size)" },
  forgetBias: { type: 'number', default: 1, description: "forget bias of init 'standard' (paper §3: 1.0)" },
  chunkSize: { type: 'integer', minimum: 1, default: 16, description: "units per master gate (downsize factor C, paper App. D: 16); only with refine 'master'" },
  gateBias: {
    enum: ['trained', 'frozen'],
    default: 'trained',
    description: "whether the chrono/UGI bias vector trains ('trained': paper pseudocode) or stays fixed ('frozen': Gu's s4 Gate)",
  },
  weightInit: {
    enum: ['uniform', 'glorot'],
    default: 'uniform',
    description:
      "weights and linear biases: 'uniform' = U(±1/√units) as PyTorch's LSTM/Linear (r0mainK, the UR copy result reproduces with it); 'glorot' = glorot-uniform input kernel, orthogonal recurrent block per gate, zero bias (Keras style)",
  },
  refineBias: {
    enum: ['tied', 'independent'],
    default: 'tied',
    description: "refine gate bias: 'tied' = −b_f of the main gate (paper App. A) or 'independent' (own linear bias only, s4 Gate)",
  },
};

/** The gate options with the preset applied and every derived size. */
export interface GateLayout {
  init: GateInit;
  refine: Refine;
  activation: Activation;
  /** Hidden size d. */
  units: number;
  /** Width of the main gate: d, or d / chunkSize for master gates. */
  main: number;
  chunk: number;
  /** The cell has its own input gate (LSTM) or ties it to 1 − forget (GRU). */
  inputGate: boolean;
  /** Column widths of the gate block, in order. */
  blocks: Array<[name: 'main' | 'refine' | 'input' | 'masterInput' | 'aux', width: number]>;
  /** Total width of the gate block. */
  width: number;
  /** Which block gets −b when the main gate gets +b (chrono/UGI), if any. */
  partner?: 'refine' | 'input' | 'masterInput';
  tmax: number;
  options: GateOptions;
}

export function gateLayout(o: GateOptions, inputGate: boolean): GateLayout {
  const { init, refine, activation } = { ...presetOf(o.preset), ...defined({ init: o.init, refine: o.refine, activation: o.activation }) };
  const d = o.units;
  const chunk = refine === 'master' ? o.chunkSize : 1;
  const main = d / chunk;
  const blocks: GateLayout['blocks'] = [['main', main]];
  let partner: GateLayout['partner'];
  if (refine === 'refine') {
    blocks.push(['refine', d]);
    if (o.refineBias === 'tied') partner = 'refine';
  } else if (refine === 'master') {
    blocks.push(['masterInput', main], ['aux', d]);
    if (inputGate) blocks.push(['input', d]);
    partner = 'masterInput';
  } else if (inputGate) {
    blocks.push(['input', d]);
    partner = 'input';
  }
  const width = blocks.reduce((a, [, w]) => a + w, 0);
  return { init, refine, activation, units: d, main, chunk, inputGate, blocks, width, partner, tmax: o.tmax ?? d, options: o };
}

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Cross-option checks shared by both cells (paths relative to the options object). */
export function validateGates(o: GateOptions, inputGate: boolean): { path: string; message: string } | undefined {
  const g = gateLayout(o, inputGate);
  if (g.activation === 'cumax' && g.init !== 'standard') {
    return { path: 'init', message: `must be 'standard' with activation 'cumax' (cumax is not a sigmoid, so chrono/UGI biases do not apply; got '${g.init}')` };
  }
  if (o.tmax !== undefined && g.init !== 'chrono') return { path: 'tmax', message: `applies only with init 'chrono' (init is '${g.init}')` };
  if (g.init === 'chrono' && !(g.tmax > 2)) return { path: 'tmax', message: `must be > 2 for chrono init (defaults to units = ${o.units})` };
  if (o.gateBias === 'frozen' && g.init === 'standard') {
    return { path: 'gateBias', message: "'frozen' applies only to init 'chrono' or 'uniform' (init is 'standard')" };
  }
  if (g.refine === 'master' && o.units % o.chunkSize !== 0) {
    return { path: 'chunkSize', message: `must divide units (${o.units}) for master gates (got ${o.chunkSize})` };
  }
  return undefined;
}

/**
 * Uniform gate initialisation (eq. 9 with App. D.5's U[1/d, 1 − 1/d]): b = logit(u), so
 * σ(b) is uniform on [1/d, 1 − 1/d] where d is the gate's width.
 */
export const ugi: Init = (shape, rng) => {
  const d = shape[shape.length - 1];
  return inits.mapInit(inits.uniform(1 / d, 1 - 1 / d), (u) => Math.log(u / (1 - u)))(shape, rng);
};

/** Initialiser of the distributional bias vector b (chrono or UGI), or none for 'standard'. */
export function gateBiasInit(g: GateLayout): Init | undefined {
  if (g.init === 'uniform') return ugi;
  if (g.init === 'chrono') return inits.chrono(g.tmax);
  return undefined;
}

/** Initial linear bias of the gate block: forgetBias on a standard sigmoid main gate, else 0. */
function gateBlockBiasInit(g: GateLayout): Array<[number, Init]> {
  return g.blocks.map(([name, w]) => {
    const fb = name === 'main' && g.init === 'standard' && g.activation === 'sigmoid' ? g.options.forgetBias : 0;
    return [w, fb ? inits.constant(fb) : inits.zeros] as [number, Init];
  });
}

/** U(±1/√units): PyTorch's default for every LSTM/Linear weight (the paper leaves weights open). */
const torchUniform = (g: GateLayout): Init => inits.uniform(-1 / Math.sqrt(g.units), 1 / Math.sqrt(g.units));

/** The input kernel's initialiser. */
export const kernelInit = (g: GateLayout): Init => (g.options.weightInit === 'glorot' ? inits.glorotUniform() : torchUniform(g));

/** The initialiser of a recurrent matrix whose columns are these blocks (orthogonal per block with 'glorot'). */
export const recurrentInit = (g: GateLayout, widths: number[]): Init =>
  g.options.weightInit === 'glorot' ? inits.concatLast(widths.map((w) => [w, inits.orthogonal()] as const)) : torchUniform(g);

/**
 * The linear bias: the gate block (gateBlockBiasInit) followed by `rest` columns. With
 * 'uniform' each column not fixed by a standard forget bias is the sum of two U(±1/√d)
 * draws, as PyTorch's LSTM adds its input and hidden biases (b_ih + b_hh).
 */
export function linearBiasInit(g: GateLayout, rest: number): Init {
  if (g.options.weightInit === 'glorot') return inits.concatLast([...gateBlockBiasInit(g), [rest, inits.zeros]]);
  const u = torchUniform(g);
  const twoBiases: Init = (shape, rng) => {
    const a = u(shape, rng.fork('ih'));
    const b = u(shape, rng.fork('hh'));
    return a.map((v, i) => v + b[i]);
  };
  const fixed = (name: string) => name === 'main' && g.init === 'standard' && g.activation === 'sigmoid';
  return inits.concatLast([...g.blocks.map(([name, w]) => [w, fixed(name) ? inits.constant(g.options.forgetBias) : twoBiases] as const), [rest, twoBiases]]);
}

/**
 * The full-width bias of the projection: the linear bias plus +b on the main gate and
 * −b on its partner (chrono eq. 18; UGI as App. A and D.5). Input-only, so it belongs
 * in `project`.
 */
export function projectionBias(g: GateLayout, p: Params, totalWidth: number): tf.Tensor {
  const b = p.gateBias;
  if (!b) return p.bias;
  const parts: tf.Tensor[] = [];
  for (const [name, w] of g.blocks) {
    parts.push(name === 'main' ? b : name === g.partner ? tf.neg(b) : tf.zeros([w]));
  }
  if (totalWidth > g.width) parts.push(tf.zeros([totalWidth - g.width]));
  return tf.add(p.bias, tf.concat(parts, 0));
}

/** cumax(z) = cumsum(softmax(z)) over units (Shen et al. 2018): monotone in [0, 1]. */
export const cumax = (z: tf.Tensor2D): tf.Tensor2D => tf.cumsum(tf.softmax(z), 1) as tf.Tensor2D;

/** Effective gate of eq. (16): g = f² + 2 r f (1 − f) = r(1 − (1 − f)²) + (1 − r) f². */
export function refineGate(f: tf.Tensor2D, r: tf.Tensor2D): tf.Tensor2D {
  const f2 = tf.mul(f, f);
  return tf.add(f2, tf.mul(tf.mul(r, 2), tf.sub(f, f2))) as tf.Tensor2D;
}

/** Repeat each of M master values over its chunk of C consecutive units: [B, M] → [B, M·C]. */
function expandChunks(x: tf.Tensor2D, chunk: number): tf.Tensor2D {
  if (chunk === 1) return x;
  const [B, M] = x.shape;
  return tf.reshape(tf.tile(tf.reshape(x, [B, M, 1]), [1, 1, chunk]), [B, M * chunk]);
}

export interface GateValues {
  /** Main forget gate f (master gates: the master forget gate, expanded to d units). */
  forget: tf.Tensor2D;
  /** Retention gate used in the state update (g, or f when there is no auxiliary gate). */
  effective: tf.Tensor2D;
  /** Refine gate r (refine only). */
  refine?: tf.Tensor2D;
  /** Input gate when untied; absent means input = 1 − effective. */
  input?: tf.Tensor2D;
}

/** Evaluate the gate mechanism on the gate-block pre-activations z [B, width] (biases included). */
export function computeGates(g: GateLayout, z: tf.Tensor2D): GateValues {
  // (tf.split into a single part has no gradient, so a one-block layout skips it)
  const parts = g.blocks.length === 1 ? [z] : (tf.split(z, g.blocks.map(([, w]) => w), 1) as tf.Tensor2D[]);
  const block = Object.fromEntries(g.blocks.map(([name], k) => [name, parts[k]])) as Record<string, tf.Tensor2D>;
  const sigmoid = g.activation === 'sigmoid';
  const main = sigmoid ? tf.sigmoid(block.main) : cumax(block.main);
  // The input-side gate that mirrors the main one: σ(z) or 1 − cumax(z) (eqs 20, 29, 33).
  const mirror = (x: tf.Tensor2D) => (sigmoid ? tf.sigmoid(x) : (tf.sub(1, cumax(x)) as tf.Tensor2D));

  if (g.refine === 'refine') {
    const r = tf.sigmoid(block.refine);
    return { forget: main, refine: r, effective: refineGate(main, r) };
  }
  if (g.refine === 'master') {
    // ON-LSTM (eqs 19–23): master gates F̃, Ĩ; fine gates f, i; ω = F̃ Ĩ.
    const F = expandChunks(main, g.chunk);
    const I = expandChunks(mirror(block.masterInput), g.chunk);
    const omega = tf.mul(F, I);
    const f = tf.sigmoid(block.aux);
    const i = g.inputGate ? tf.sigmoid(block.input) : tf.sub(1, f);
    const effective = tf.add(tf.mul(f, omega), tf.sub(F, omega)) as tf.Tensor2D;
    const input = tf.add(tf.mul(i, omega), tf.sub(I, omega)) as tf.Tensor2D;
    return { forget: F, effective, input };
  }
  return g.inputGate ? { forget: main, effective: main, input: mirror(block.input) } : { forget: main, effective: main };
}

/** The kernels' variant code of a layout (kernel/gates.h): [refine 0 none | 1 refine | 2 master, cumax 0 | 1, chunk]. */
export const kernelVariant = (g: GateLayout): [number, number, number] => [
  ['none', 'refine', 'master'].indexOf(g.refine),
  +(g.activation === 'cumax'),
  g.chunk,
];

/** Signals a cell built on this layout reports. */
export function gateSignals(g: GateLayout): string[] {
  const s = ['forget', 'effective'];
  if (g.refine === 'refine') s.push('refine');
  if (g.inputGate ? g.refine !== 'refine' : g.refine === 'master') s.push('input');
  return s;
}

/** Zoneout rates must be in [0, 1). */
export const zoneoutSchema = (what: string): JsonSchema => ({
  type: 'number',
  minimum: 0,
  exclusiveMaximum: 1,
  default: 0,
  description: `zoneout probability of ${what} (Krueger et al. 2016; paper Table 3 uses zc 0.5, zh 0.05 for LSTM, z 0.1 for GRU); random masks in training, the expectation at inference`,
});

/**
 * Zoneout (Krueger et al. 2016): each unit keeps its previous value with probability z.
 * Training reads the step's Bernoulli keep-mask, drawn by `zoneoutBegin` under `name`;
 * inference uses the expectation z·prev + (1 − z)·next, so predictions are deterministic.
 */
export function zoneout(prev: tf.Tensor2D, next: tf.Tensor2D, z: number, ctx: StepContext, name: string): tf.Tensor2D {
  if (z === 0) return next;
  const keep = ctx.training ? ctx.constants[name] : z;
  return tf.add(next, tf.mul(keep, tf.sub(prev, next))) as tf.Tensor2D;
}

/**
 * A cell's `begin` and `perStep` for zoneout at `rates` (by mask name): in training, every
 * step's masks drawn up front as [T·B, H] constants (the step loop slices step t's; the traced
 * kernels read them as per-step inputs), in the order and from the seeds the fused kernels use.
 */
export function zoneoutBegin(rates: Record<string, number>, H: number, seed: () => number): Pick<CellInstance, 'begin' | 'perStep'> {
  const names = Object.keys(rates).filter((k) => rates[k] > 0);
  if (!names.length) return {};
  return {
    perStep: names,
    begin({ training, batch, steps }) {
      if (!training) return {};
      // Per step, each rate in order: the draws zoneoutMasks makes for the fused kernels.
      return tf.tidy(() => {
        const masks = names.map((): tf.Tensor2D[] => []);
        for (let t = 0; t < steps; t++) names.forEach((k, i) => masks[i].push(zoneoutMask([batch, H], rates[k], seed())));
        return Object.fromEntries(names.map((k, i) => [k, tf.concat(masks[i])]));
      });
    },
  };
}

/** A training keep-mask: 1 where a unit keeps its previous value (probability z). */
export const zoneoutMask = (shape: [number, number], z: number, seed: number): tf.Tensor2D =>
  tf.cast(tf.less(tf.randomUniform(shape, 0, 1, 'float32', seed), z), 'float32') as tf.Tensor2D;

/**
 * The training keep-masks [T, B, H] of a whole sequence, one array per rate (undefined
 * for rate 0), drawn exactly as the step loop draws them: per step, each non-zero rate in
 * order, one seed each. A fused kernel given these sees the loop's masks, and the seed
 * source ends where the loop would leave it.
 */
export function zoneoutMasks(rates: number[], T: number, B: number, H: number, seed: () => number): Array<Float32Array | undefined> {
  const steps = rates.map((): tf.Tensor2D[] => []);
  for (let t = 0; t < T; t++) rates.forEach((z, i) => z > 0 && steps[i].push(tf.tidy(() => zoneoutMask([B, H], z, seed()))));
  return steps.map((m) => {
    if (!m.length) return undefined;
    const all = tf.stack(m);
    const data = all.dataSync() as Float32Array;
    tf.dispose([all, ...m]);
    return data;
  });
}

/**
 * The seed source of a cell's zoneout masks, from the layer's seed, so two models built
 * with one seed draw the same masks (and a fused kernel can be checked against the loop),
 * keyed by the training step so a resumed run draws what an uninterrupted one would.
 */
export function zoneoutSeeds(cell: string, layerSeed: number | undefined): () => number {
  return stepSeeds(layerSeed ?? Math.floor(Math.random() * 2 ** 31), `${cell}-zoneout`);
}
