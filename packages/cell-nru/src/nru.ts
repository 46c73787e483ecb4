import * as tf from '@tensorflow/tfjs-core';
import { defineCell, init, type Init } from '@cellstack/core';
import { nruFused } from './kernel.js';

export interface NRUOptions {
  hidden: number;
  memory: number;
  heads: number;
  headReduce: 'mean' | 'sum';
  headInputs: 'hm' | 'xhm';
  outerProduct: 'shared' | 'perHead';
  useRelu: boolean;
  layerNorm: boolean;
  memoryInit: 'torch' | 'zeros';
}

/** PyTorch's default nn.Linear init (weights and bias): U(±1/√fanIn) — the authors' code keeps it. */
const torchLinear = (fanIn: number): Init => init.uniform(-1 / Math.sqrt(fanIn), 1 / Math.sqrt(fanIn));

/** PyTorch nn.LayerNorm's epsilon (the authors' optional layer norm). */
const LN_EPS = 1e-5;
/**
 * Floor of Σ|v|⁵ before the 1/5 power, i.e. an L5-norm floor of 1e-6. PyTorch's
 * F.normalize floors the norm at 1e-12, but 1e-60 is not a float32; the floor also keeps
 * the gradient finite for an all-zero head (possible with useRelu).
 */
const SUM5_FLOOR = 1e-30;

const isSquare = (n: number) => Number.isInteger(Math.sqrt(n));

/** n without its square factors (12 → 3): n·m is a perfect square exactly when m = squarefree(n)·j². */
function squarefree(n: number): number {
  let s = 1;
  for (let p = 2; p * p <= n; p++) {
    let odd = false;
    while (n % p === 0) {
      n /= p;
      odd = !odd;
    }
    if (odd) s *= p;
  }
  return s * n;
}

/**
 * Up to `count` values v ≤ limit nearest to `target` with v·n a perfect square, ascending.
 * Computed (v = squarefree(n)·j² for j near √(target/s)), not searched, so it is instant
 * for any target and never empty while n ≤ 2³² and s ≤ limit.
 */
function nearestSquareMultiples(target: number, n: number, count: number, limit = Infinity): number[] {
  if (n > 2 ** 32) return []; // no quick factorisation: no suggestion rather than a slow one
  const s = squarefree(n);
  const j0 = Math.round(Math.sqrt(target / s));
  const values: number[] = [];
  for (let j = Math.max(1, j0 - count); j <= j0 + count; j++) if (s * j * j <= limit) values.push(s * j * j);
  return values.sort((a, b) => Math.abs(a - target) - Math.abs(b - target)).slice(0, count).sort((a, b) => a - b);
}

/** Column layout of the head pre-activations u (width D). */
function headLayout({ memory: M, heads: k, outerProduct }: Pick<NRUOptions, 'memory' | 'heads' | 'outerProduct'>) {
  // shared: one p, q ∈ R^s per direction set, s = √(k·M); perHead: k pairs of size r = √M.
  const groups = outerProduct === 'shared' ? 1 : k;
  const r = outerProduct === 'shared' ? Math.round(Math.sqrt(k * M)) : Math.round(Math.sqrt(M));
  // α, β, then p and q (each `groups` vectors of size r) for the write and the erase heads.
  return { groups, r, width: 2 * k + 2 * (2 * groups * r) };
}

/**
 * Non-saturating Recurrent Unit (Chandar et al., AAAI 2019), eqs. 9–17, as the authors'
 * code (apsarath/NRU NRU.py:NRUCell) computes it unless an option says otherwise:
 *   h_t = ReLU(LN?(W_i x_t + W_h h_{t−1} + W_c m_{t−1} + b))
 *   u   = [h_t, m_{t−1}] (headInputs 'hm') or [x_t, h_t, m_{t−1}] ('xhm')
 *   α, β = relu?(W_α u + b_α), relu?(W_β u + b_β) ∈ R^k
 *   v^w_i, v^e_i = L5-normalised relu?(outer-product directions) ∈ R^M
 *   m_t = m_{t−1} + reduce_i(α_i v^w_i − β_i v^e_i)   (reduce = mean or sum over heads)
 * Parameters (the authors' five nn.Linear maps, regrouped by what they multiply):
 *   kernel [F, H(+D)]: x_t → h (and → heads with 'xhm'); recurrent [H, H]: h_{t−1} → h;
 *   memoryKernel [M, H+D]: m_{t−1} → h and → heads; bias [H]; headKernel [H, D]: h_t → heads;
 *   headBias [D]; lnGain, lnBias [H] with layerNorm. Head columns (D = 2k + 4·|p|):
 *   α (k) | β (k) | p^w | q^w | p^e | q^e, as the code's hm2alpha, hm2beta, hm2v_alpha, hm2v_beta.
 */
export const NRU = defineCell<NRUOptions>({
  name: 'NRU',
  description: 'Non-saturating Recurrent Unit: ReLU hidden state plus a flat additive memory written and erased by k linear heads',
  positional: ['hidden'],
  source: { paper: 'Chandar, Sankar, Vorontsov, Kahou, Bengio: Towards Non-saturating Recurrent Units for Modelling Long-term Dependencies (AAAI 2019)', url: 'https://arxiv.org/abs/1902.06704' },
  schema: {
    type: 'object',
    properties: {
      hidden: { type: 'integer', minimum: 1, default: 80, description: 'size of the ReLU hidden state h (paper copy-task configuration: 80)' },
      memory: { type: 'integer', minimum: 1, default: 64, description: 'size of the flat memory m (authors\' code default and copy configuration: 64)' },
      heads: { type: 'integer', minimum: 1, default: 4, description: 'k: number of write heads and of erase heads (authors\' code default: 4)' },
      headReduce: { enum: ['mean', 'sum'], default: 'mean', description: "how the k heads' updates combine: 'mean' (authors' code, torch.mean) or 'sum' (paper eq. 10)" },
      headInputs: { enum: ['hm', 'xhm'], default: 'hm', description: "inputs of α, β and the directions: 'hm' = [h_t, m_{t-1}] (authors' code) or 'xhm' = [x_t, h_t, m_{t-1}] (paper eqs. 11-16)" },
      outerProduct: { enum: ['shared', 'perHead'], default: 'shared', description: "'shared': one outer product of two √(k·memory) vectors cut into k heads (authors' code; paper: 'we do this trick in our implementation'); 'perHead': an outer product of two √memory vectors per head (paper eqs. 15-17)" },
      useRelu: { type: 'boolean', default: false, description: 'ReLU on α, β and the directions (off in the paper\'s synthetic and pMNIST runs and the code default; on for char-PTB)' },
      layerNorm: { type: 'boolean', default: false, description: 'layer normalisation of the hidden pre-activation before the ReLU (authors\' code option, default off)' },
      memoryInit: { enum: ['torch', 'zeros'], default: 'torch', description: "init of the weights that read m_{t-1} (memoryKernel): 'torch' = U(±1/√fan_in) as every other weight (authors' code); 'zeros' (cellstack) = no memory feedback at init, so the untrained memory grows at most linearly in T instead of exponentially" },
    },
    additionalProperties: false,
  },
  validate({ memory: M, heads: k, outerProduct }) {
    if (outerProduct === 'shared' && !isSquare(k * M)) {
      const mems = nearestSquareMultiples(M, k, 4);
      const ks = nearestSquareMultiples(k, M, 3, Math.max(64, M));
      return {
        path: 'memory',
        message:
          `heads × memory must be a perfect square for the shared outer product (√(${k}·${M}) = ${Math.sqrt(k * M).toFixed(2)}); ` +
          (mems.length ? `with heads ${k} use memory ${mems.join(', ')}` : `with heads ${k} use a memory m with ${k}·m a perfect square`) +
          (ks.length ? `, or with memory ${M} use heads ${ks.join(', ')}` : '') +
          ", or outerProduct 'perHead' with a square memory",
      };
    }
    if (outerProduct === 'perHead' && !isSquare(M)) {
      return { path: 'memory', message: `must be a perfect square for outerProduct 'perHead' (√${M} = ${Math.sqrt(M).toFixed(2)}); use memory ${nearestSquareMultiples(M, 1, 4).join(', ')}` };
    }
    return undefined;
  },
  create(o, { inputSize: F }) {
    const { hidden: H, memory: M, heads: k } = o;
    const { groups, r, width: D } = headLayout(o);
    const xhm = o.headInputs === 'xhm';
    const hInit = torchLinear(F + H + M);
    const headInit = torchLinear(xhm ? F + H + M : H + M);
    const params: Record<string, { shape: number[]; init: Init }> = {
      kernel: { shape: [F, xhm ? H + D : H], init: xhm ? init.concatLast([[H, hInit], [D, headInit]]) : hInit },
      recurrent: { shape: [H, H], init: hInit },
      // m_{t−1} → h and → heads. With the authors' init these two feedback loops make the untrained
      // memory grow exponentially in T (|m| ~ 10⁴–10⁵ by T 196–784); 'zeros' cuts both at init.
      memoryKernel: { shape: [M, H + D], init: o.memoryInit === 'zeros' ? init.zeros : init.concatLast([[H, hInit], [D, headInit]]) },
      bias: { shape: [H], init: hInit },
      headKernel: { shape: [H, D], init: headInit },
      headBias: { shape: [D], init: headInit },
    };
    if (o.layerNorm) {
      params.lnGain = { shape: [H], init: init.constant(1) };
      params.lnBias = { shape: [H], init: init.zeros };
    }
    const scale = o.headReduce === 'mean' ? 1 / k : 1;
    const maybeRelu = <T extends tf.Tensor>(t: T): T => (o.useRelu ? tf.relu(t) : t);

    /** Directions [B, 2k, M] (write heads then erase heads), L5-normalised per head. */
    const directions = (v: tf.Tensor2D, B: number) => {
      // v = [p^w | q^w | p^e | q^e]; each p, q holds `groups` vectors of size r.
      const [p, q] = tf.split(tf.reshape(v, [B * 2, 2 * groups * r]), 2, 1);
      const outer = tf.mul(tf.reshape(p, [B * 2 * groups, r, 1]), tf.reshape(q, [B * 2 * groups, 1, r]));
      // Row-major vec of each r×r outer product; 'shared' cuts its s×s matrix into k rows of M.
      const dirs = maybeRelu(tf.reshape(outer, [B, 2 * k, M]));
      const sq = tf.square(dirs);
      const sum5 = tf.sum(tf.mul(tf.square(sq), tf.abs(dirs)), 2, true);
      return tf.div(dirs, tf.pow(tf.maximum(sum5, SUM5_FLOOR), 0.2)) as tf.Tensor3D;
    };

    return {
      state: { h: H, m: M },
      outputSize: H,
      params,
      // Input-only work: W_i x + b (and, with 'xhm', the heads' x part plus their bias).
      project: (x, p) => ({ x: tf.add(tf.matMul(x, p.kernel as tf.Tensor2D), xhm ? tf.concat([p.bias, p.headBias]) : p.bias) }),
      // Signed, reduced head weights: m_t − m_{t−1} = [α, β]·sign [B,1,2k] × directions [B,2k,M].
      begin: () => ({ sign: tf.tensor1d([...Array<number>(k).fill(scale), ...Array<number>(k).fill(-scale)]) }),
      step({ x }, { h, m }, p, { constants }) {
        const B = h.shape[0];
        // m_{t−1} feeds both h and the heads: one matmul for both.
        const [mh, mv] = tf.split(tf.matMul(m, p.memoryKernel as tf.Tensor2D), [H, D], 1);
        const [xh, xv] = xhm ? tf.split(x, [H, D], 1) : [x, p.headBias];
        let z = tf.add(tf.add(xh, mh), tf.matMul(h, p.recurrent as tf.Tensor2D));
        if (o.layerNorm) {
          const { mean, variance } = tf.moments(z, 1, true);
          z = tf.add(tf.mul(tf.div(tf.sub(z, mean), tf.sqrt(tf.add(variance, LN_EPS))), p.lnGain), p.lnBias);
        }
        const h2 = tf.relu(z) as tf.Tensor2D;
        const u = tf.add(tf.add(tf.matMul(h2, p.headKernel as tf.Tensor2D), mv), xv);
        const [ab, v] = tf.split(u, [2 * k, D - 2 * k], 1);
        const weights = maybeRelu(ab);
        const coef = tf.reshape(tf.mul(weights, constants.sign), [B, 1, 2 * k]) as tf.Tensor3D;
        const m2 = tf.add(m, tf.reshape(tf.matMul(coef, directions(v as tf.Tensor2D, B)), [B, M])) as tf.Tensor2D;
        const [alpha, beta] = tf.split(weights, 2, 1);
        return { output: h2, state: { h: h2, m: m2 }, signals: { m: m2, alpha, beta } };
      },
      signals: ['m', 'alpha', 'beta'],
      fused: nruFused(o, { groups, r }),
    };
  },
});
