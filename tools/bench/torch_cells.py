#!/usr/bin/python3
"""PyTorch counterparts of the cellstack benchmark workloads (issue 11; see tools/bench/README.md).

Each cellstack cell is re-implemented here as a torch.nn.Module with the same equations, default
options and parameter shapes as its TypeScript source, and run by a plain Python loop over time
("pytorch-loop"). LSTM and GRU are also run as PyTorch's fused nn.LSTM / nn.GRU ("pytorch-fused").

    /usr/bin/python3 tools/bench/torch_cells.py --workload W1 --cell STAR [--steps 5 --warmup 2 --threads N]
    /usr/bin/python3 tools/bench/torch_cells.py --all

Run it with Debian's /usr/bin/python3 (python3-torch); the pyenv `python3` on PATH has no torch.
One JSON line per (cell, workload, system) on stdout, like tools/bench/bench.ts.

Workloads (research/perf-notes.md): W1 = T 100, batch 32, one-hot 10, 1 layer of 128, dense 10 on
every step, softmax cross-entropy, Adam (lr 1e-3), global-norm clipping 1 — training steps/s;
W2 = the same with 4 stacked layers of 64; W3 = W1 forward only (inference passes/s, no_grad, eval).
M = BPTT over 784 steps of 16 STAR layers of 64 at batch 100, one training step (read peakRssMiB).
"""
from __future__ import annotations

import argparse
import ctypes
import json
import math
import re
import resource
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:  # pragma: no cover
    sys.exit("torch_cells: no torch in this Python; run it with Debian's /usr/bin/python3 (apt package python3-torch)")

Tensor = torch.Tensor

WORKLOADS = {
    "W1": {"layers": 1, "units": 128, "train": True},
    "W2": {"layers": 4, "units": 64, "train": True},
    "W3": {"layers": 1, "units": 128, "train": False},
    # the memory workload: BPTT over 784 steps of 16 layers of 64 at batch 100 (read peakRssMiB)
    "M": {"layers": 16, "units": 64, "train": True, "seq": 784, "batch": 100},
    # where threads matter: T 100, batch 128, 2 layers of 512
    "L": {"layers": 2, "units": 512, "train": True, "seq": 100, "batch": 128},
}
SEQ, BATCH, FEATURES, CLASSES = 100, 32, 10, 10


# ---------------------------------------------------------------------------------------------
# Initialisers (the distributions of packages/core/src/init.ts; weights are stored [in, out] as ours)
# ---------------------------------------------------------------------------------------------


def glorot(shape, gain=1.0):
    fan_in, fan_out = shape
    lim = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return torch.empty(shape).uniform_(-lim, lim)


def uniform(shape, lo, hi):
    return torch.empty(shape).uniform_(lo, hi)


def orthogonal(shape):
    return nn.init.orthogonal_(torch.empty(shape))


def orth_blocks(rows, widths):
    """concatLast of one orthogonal matrix per column block (ours: recurrent kernels per gate)."""
    return torch.cat([orthogonal((rows, w)) for w in widths], dim=1)


def chrono(n, tmax):
    """init.chrono: log U(1, tmax − 1)."""
    return torch.log(torch.empty(n).uniform_(1.0, tmax - 1.0))


def P(t: Tensor) -> nn.Parameter:
    return nn.Parameter(t.contiguous())


# ---------------------------------------------------------------------------------------------
# Loop cells. Protocol, as packages/core/src/sequence.ts runs ours:
#   project(x [T·B, F]) -> tuple of [T·B, *] input-only terms (one matmul for all steps)
#   begin(batch) -> per-sequence constants (inside autograd, so parameters in them still learn)
#   init_state(batch) -> tuple of state tensors (zeros unless the cell says otherwise)
#   step(inputs_t, state, consts) -> (output_t, new_state)
# ---------------------------------------------------------------------------------------------


class LoopCell(nn.Module):
    output_size: int
    state_sizes: tuple

    def project(self, x: Tensor):
        raise NotImplementedError

    def begin(self, batch: int):
        return None

    def init_state(self, batch: int, ref: Tensor):
        return tuple(ref.new_zeros(batch, n) for n in self.state_sizes)

    def step(self, inputs, state, consts):
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        """x [T, B, F] time-major -> outputs [T, B, output_size], by a Python loop over time."""
        T, B, Fin = x.shape
        projected = [p.reshape(T, B, -1).unbind(0) for p in self.project(x.reshape(T * B, Fin))]
        consts = self.begin(B)
        state = self.init_state(B, x)
        outs = []
        for t in range(T):
            out, state = self.step(tuple(p[t] for p in projected), state, consts)
            outs.append(out)
        return torch.stack(outs, 0)


class STAR(LoopCell):
    """packages/cell-star/src/star.ts, variant 'paper', chrono on, tmax = timesteps:
    z = tanh(x W_z + b_z); k = σ(x W_x + h W_h + b_k); h = tanh((1 − k) h + k z).
    kernel [F, 2H] = [W_z | W_x], recurrent [H, H], bias [2H] = [b_z | b_k], b_k = −log U(1, T−1)."""

    def __init__(self, F_in, H, timesteps):
        super().__init__()
        self.H, self.output_size, self.state_sizes = H, H, (H,)
        tmax = timesteps if timesteps > 2 else 784
        self.kernel = P(torch.cat([orthogonal((F_in, H)), orthogonal((F_in, H))], 1))
        self.recurrent = P(orthogonal((H, H)))
        self.bias = P(torch.cat([torch.zeros(H), -chrono(H, tmax)]))

    def project(self, x):
        z_pre, gate = torch.addmm(self.bias, x, self.kernel).split(self.H, 1)
        return torch.tanh(z_pre), gate

    def step(self, inp, state, consts):
        z, gate = inp
        (h,) = state
        k = torch.sigmoid(torch.addmm(gate, h, self.recurrent))
        h2 = torch.tanh(h + k * (z - h))
        return h2, (h2,)


class NRU(LoopCell):
    """packages/cell-nru/src/nru.ts defaults: memory 64, heads 4, headReduce 'mean', headInputs 'hm',
    outerProduct 'shared', useRelu false, layerNorm false (the hidden size is the workload's units).
      h = ReLU(x W_i + h W_h + m W_c + b);  u = h W_u + m W_cu + b_u = [α | β | p^w q^w p^e q^e]
      v = L5-normalised outer products (shared: one √(k·M)² product cut into k heads of M)
      m = m + mean_i(α_i v^w_i − β_i v^e_i)"""

    def __init__(self, F_in, H, memory=64, heads=4):
        super().__init__()
        M, k = memory, heads
        r = round(math.sqrt(k * M))
        if r * r != k * M:
            raise ValueError("heads × memory must be a perfect square (shared outer product)")
        D = 2 * k + 2 * (2 * r)
        self.H, self.M, self.k, self.r, self.D = H, M, k, r, D
        self.output_size, self.state_sizes = H, (H, M)
        lim_h = 1 / math.sqrt(F_in + H + M)  # PyTorch nn.Linear default init, as the authors' code
        lim_u = 1 / math.sqrt(H + M)
        self.kernel = P(uniform((F_in, H), -lim_h, lim_h))
        self.recurrent = P(uniform((H, H), -lim_h, lim_h))
        self.memoryKernel = P(torch.cat([uniform((M, H), -lim_h, lim_h), uniform((M, D), -lim_u, lim_u)], 1))
        self.bias = P(uniform((H,), -lim_h, lim_h))
        self.headKernel = P(uniform((H, D), -lim_u, lim_u))
        self.headBias = P(uniform((D,), -lim_u, lim_u))
        scale = 1.0 / k  # headReduce 'mean'
        self.register_buffer("sign", torch.tensor([scale] * k + [-scale] * k), persistent=False)

    def project(self, x):
        return (torch.addmm(self.bias, x, self.kernel),)

    def directions(self, v, B):
        k, M, r = self.k, self.M, self.r
        p, q = v.reshape(B * 2, 2 * r).split(r, 1)
        dirs = (p.unsqueeze(2) * q.unsqueeze(1)).reshape(B, 2 * k, M)
        sq = dirs * dirs
        sum5 = (sq * sq * dirs.abs()).sum(2, keepdim=True)
        return dirs / sum5.clamp_min(1e-30).pow(0.2)

    def step(self, inp, state, consts):
        (xh,) = inp
        h, m = state
        B = h.shape[0]
        mh, mv = (m @ self.memoryKernel).split([self.H, self.D], 1)
        h2 = torch.relu(torch.addmm(xh + mh, h, self.recurrent))
        u = torch.addmm(mv + self.headBias, h2, self.headKernel)
        weights, v = u.split([2 * self.k, self.D - 2 * self.k], 1)
        coef = (weights * self.sign).reshape(B, 1, 2 * self.k)
        m2 = m + torch.bmm(coef, self.directions(v, B)).reshape(B, self.M)
        return h2, (h2, m2)


def round_half_even(v):
    return round(v)  # Python 3's round() is half-to-even, as roundHalfEven in rru.ts


class RRU(LoopCell):
    """packages/cell-rru/src/rru.ts defaults: outputSize 64, q 2 (g = round(2·(m + n))), reluLayers 1,
    normalize 'rms' (no gain, eps 1e-6), sScale 10, per-feature Z, dropout 0.5 with a fresh mask every
    step in training (inverted dropout, as ours), h_0 = [√n/4, 0, …, 0]:
      j = Dropout(ReLU(RMS(x W^x + h W^h + b^j)));  [c, o] = j W^co + b^co
      h = σ(10·S) ∘ h + Z ∘ c;  output o"""

    def __init__(self, F_in, n, output_size=64, q=2.0, dropout=0.5, s_scale=10.0):
        super().__init__()
        g = round_half_even(q * (F_in + n))
        self.n, self.p, self.g = n, output_size, g
        self.output_size, self.state_sizes = output_size, (n,)
        self.dropout, self.s_scale = dropout, s_scale
        lim = math.sqrt(6 / (F_in + n + g))
        self.Wx = P(uniform((F_in, g), -lim, lim))
        self.Wh = P(uniform((n, g), -lim, lim))
        self.bj = P(torch.zeros(g))
        self.Wco = P(glorot((g, n + output_size)))
        self.bco = P(torch.zeros(n + output_size))
        u = uniform((n,), 0.01, 0.99)
        self.S = P(torch.log(u / (1 - u)) / s_scale)
        self.Z = P(torch.zeros(n))

    def init_state(self, batch, ref):
        h0 = ref.new_zeros(batch, self.n)
        h0[:, 0] = math.sqrt(self.n) / 4
        return (h0,)

    def begin(self, batch):
        return torch.sigmoid(self.S * self.s_scale).reshape(1, self.n), self.Z.reshape(1, -1)

    def project(self, x):
        return (torch.addmm(self.bj, x, self.Wx),)

    def step(self, inp, state, consts):
        (x,) = inp
        (h,) = state
        decay, z = consts
        v = torch.addmm(x, h, self.Wh)
        j = torch.relu(v * torch.rsqrt((v * v).mean(-1, keepdim=True) + 1e-6))
        if self.training and self.dropout > 0:
            j = F.dropout(j, self.dropout, training=True)
        c, out = torch.addmm(self.bco, j, self.Wco).split([self.n, self.p], 1)
        h2 = h * decay + z * c
        return out, (h2,)


class DMU(LoopCell):
    """packages/cell-dmu/src/dmu.ts defaults: layers null (one hidden layer of `units`), LeakyReLU(0.01),
    candidate tanh, zBias 3, depthScaledLr (layer i of n trains at lr/(n + 1 − i): first layer ×½):
      a = LeakyReLU(x W1_x + h W1_h + b1);  [z, h̃] = a W2 + b2;  h = σ(z) h + (1 − σ(z)) tanh(h̃)"""

    def __init__(self, F_in, d, z_bias=3.0):
        super().__init__()
        self.d, self.output_size, self.state_sizes = d, d, (d,)
        gain = math.sqrt(2 / (1 + 0.01**2))  # calculate_gain('leaky_relu')
        lim = gain * math.sqrt(6 / (F_in + d + d))
        self.kernel1_x = P(uniform((F_in, d), -lim, lim))
        self.kernel1_h = P(uniform((d, d), -lim, lim))
        self.bias1 = P(torch.zeros(d))
        self.kernel2 = P(glorot((d, 2 * d)))
        self.bias2 = P(torch.cat([torch.full((d,), z_bias), torch.zeros(d)]))
        # lrMultiplier per parameter (widths [d, 2d]: n = 2 layers; 1/(n + 1 − i))
        self.lr_multipliers = {"kernel1_x": 0.5, "kernel1_h": 0.5, "bias1": 0.5, "kernel2": 1.0, "bias2": 1.0}

    def project(self, x):
        return (torch.addmm(self.bias1, x, self.kernel1_x),)

    def step(self, inp, state, consts):
        (a1,) = inp
        (h,) = state
        a = F.leaky_relu(torch.addmm(a1, h, self.kernel1_h), 0.01)
        z, h_tilde = torch.addmm(self.bias2, a, self.kernel2).split(self.d, 1)
        s = torch.sigmoid(z)
        h2 = s * h + (1 - s) * torch.tanh(h_tilde)
        return h2, (h2,)


class URLSTM(LoopCell):
    """packages/cell-ur/src/ur-lstm.ts + gates.ts, preset 'UR-' (init uniform, refine, sigmoid; gateBias
    trained; refineBias tied; zoneout 0). Columns [main f | refine r | o | u]:
      b_f ~ logit U[1/d, 1 − 1/d] (trainable gateBias, added to f and subtracted from r)
      f = σ(L_f + b_f); r = σ(L_r − b_f); g = f² + 2 r (f − f²)
      c = g c + (1 − g) tanh(L_u);  h = σ(L_o) tanh(c)"""

    def __init__(self, F_in, H):
        super().__init__()
        self.H, self.output_size, self.state_sizes = H, H, (H, H)
        self.kernel = P(glorot((F_in, 4 * H)))
        self.recurrent = P(orth_blocks(H, [H] * 4))
        self.bias = P(torch.zeros(4 * H))
        u = uniform((H,), 1 / H, 1 - 1 / H)
        self.gateBias = P(torch.log(u / (1 - u)))

    def project(self, x):
        gb = self.gateBias
        full = self.bias + torch.cat([gb, -gb, gb.new_zeros(2 * self.H)])
        return (torch.addmm(full, x, self.kernel),)

    def step(self, inp, state, consts):
        (x,) = inp
        h, c = state
        f_pre, r_pre, o_pre, u_pre = torch.addmm(x, h, self.recurrent).split(self.H, 1)
        f = torch.sigmoid(f_pre)
        r = torch.sigmoid(r_pre)
        f2 = f * f
        g = f2 + (r * 2) * (f - f2)
        u = torch.tanh(u_pre)
        c2 = u + g * (c - u)
        h2 = torch.sigmoid(o_pre) * torch.tanh(c2)
        return h2, (h2, c2)


class LSTM(LoopCell):
    """packages/core/src/baselines/lstm.ts defaults (forget bias 1, chrono off), gates i, f, c̃, o:
    c = f c + i tanh(c̃);  h = o tanh(c). Glorot kernel, orthogonal recurrent per gate, one bias."""

    def __init__(self, F_in, H, forget_bias=1.0):
        super().__init__()
        self.H, self.output_size, self.state_sizes = H, H, (H, H)
        self.kernel = P(glorot((F_in, 4 * H)))
        self.recurrent = P(orth_blocks(H, [H] * 4))
        self.bias = P(torch.cat([torch.zeros(H), torch.full((H,), forget_bias), torch.zeros(2 * H)]))

    def project(self, x):
        return (torch.addmm(self.bias, x, self.kernel),)

    def step(self, inp, state, consts):
        (x,) = inp
        h, c = state
        zi, zf, zc, zo = torch.addmm(x, h, self.recurrent).split(self.H, 1)
        c2 = torch.sigmoid(zf) * c + torch.sigmoid(zi) * torch.tanh(zc)
        h2 = torch.sigmoid(zo) * torch.tanh(c2)
        return h2, (h2, c2)


class GRU(LoopCell):
    """packages/core/src/baselines/gru.ts: reset BEFORE the recurrent product (Keras reset_after=False):
    z, r = σ(x W + h U + b);  h̃ = tanh(x W_h + (r ∘ h) U_h + b_h);  h = z h + (1 − z) h̃. One bias."""

    def __init__(self, F_in, H):
        super().__init__()
        self.H, self.output_size, self.state_sizes = H, H, (H,)
        self.kernel = P(glorot((F_in, 3 * H)))
        self.recurrentGates = P(orth_blocks(H, [H, H]))
        self.recurrentCandidate = P(orthogonal((H, H)))
        self.bias = P(torch.zeros(3 * H))

    def project(self, x):
        return tuple(torch.addmm(self.bias, x, self.kernel).split([2 * self.H, self.H], 1))

    def step(self, inp, state, consts):
        gates, cand = inp
        (h,) = state
        z, r = torch.sigmoid(torch.addmm(gates, h, self.recurrentGates)).split(self.H, 1)
        hh = torch.tanh(torch.addmm(cand, r * h, self.recurrentCandidate))
        h2 = z * h + (1 - z) * hh
        return h2, (h2,)


class SimpleRNN(LoopCell):
    """packages/core/src/baselines/simple-rnn.ts: h = tanh(x W + h U + b)."""

    def __init__(self, F_in, H):
        super().__init__()
        self.output_size, self.state_sizes = H, (H,)
        self.kernel = P(glorot((F_in, H)))
        self.recurrent = P(orthogonal((H, H)))
        self.bias = P(torch.zeros(H))

    def project(self, x):
        return (torch.addmm(self.bias, x, self.kernel),)

    def step(self, inp, state, consts):
        (x,) = inp
        (h,) = state
        h2 = torch.tanh(torch.addmm(x, h, self.recurrent))
        return h2, (h2,)


class JANET(LoopCell):
    """packages/core/src/baselines/janet.ts defaults (β 1, chrono b_f with tmax = timesteps):
    s = x W_f + h U_f + b_f;  h = σ(s) h + (1 − σ(s − β)) tanh(x W_c + h U_c + b_c)."""

    def __init__(self, F_in, H, timesteps, beta=1.0):
        super().__init__()
        self.H, self.beta, self.output_size, self.state_sizes = H, beta, H, (H,)
        tmax = timesteps if timesteps > 2 else 784
        self.kernel = P(glorot((F_in, 2 * H)))
        self.recurrent = P(orth_blocks(H, [H, H]))
        self.bias = P(torch.cat([chrono(H, tmax), torch.zeros(H)]))

    def project(self, x):
        return (torch.addmm(self.bias, x, self.kernel),)

    def step(self, inp, state, consts):
        (x,) = inp
        (h,) = state
        s, zc = torch.addmm(x, h, self.recurrent).split(self.H, 1)
        h2 = torch.sigmoid(s) * h + (1 - torch.sigmoid(s - self.beta)) * torch.tanh(zc)
        return h2, (h2,)


# ---------------------------------------------------------------------------------------------
# Fused PyTorch modules (nn.LSTM / nn.GRU), initialised like ours where the layouts allow
# ---------------------------------------------------------------------------------------------


class FusedRNN(nn.Module):
    """A stack of `layers` single-layer nn.LSTM / nn.GRU modules on time-major input.

    nn.LSTM gate order (i, f, g, o) is ours, so its weights take our init (Glorot input kernel,
    orthogonal recurrent blocks, forget bias 1 in bias_ih, bias_hh zero). Differences that no init
    can remove: both modules carry two bias vectors (b_ih and b_hh: +4H / +3H parameters per layer),
    and nn.GRU applies the reset gate AFTER the recurrent product, r ∘ (h U_n + b_hn), while our GRU
    applies it before, (r ∘ h) U_h — the loop "GRU" is the exact counterpart of ours.
    """

    def __init__(self, kind, F_in, H, layers):
        super().__init__()
        mods = []
        for i in range(layers):
            inp = F_in if i == 0 else H
            m = nn.LSTM(inp, H) if kind == "LSTM" else nn.GRU(inp, H)
            gates = 4 if kind == "LSTM" else 3
            with torch.no_grad():
                m.weight_ih_l0.copy_(glorot((inp, gates * H)).t())
                m.weight_hh_l0.copy_(orth_blocks(H, [H] * gates).t())
                m.bias_hh_l0.zero_()
                m.bias_ih_l0.zero_()
                if kind == "LSTM":
                    m.bias_ih_l0[H : 2 * H] = 1.0  # forget bias 1
            mods.append(m)
        self.mods = nn.ModuleList(mods)
        self.output_size = H

    def forward(self, x):
        for m in self.mods:
            x, _ = m(x)
        return x


# ---------------------------------------------------------------------------------------------
# Model: cell layers (repeated), then dense 10 on every step; softmax cross-entropy on every step
# ---------------------------------------------------------------------------------------------

LOOP_CELLS = {
    "STAR": lambda F_in, H, T: STAR(F_in, H, T),
    "NRU": lambda F_in, H, T: NRU(F_in, H),
    "RRU": lambda F_in, H, T: RRU(F_in, H),
    "DMU": lambda F_in, H, T: DMU(F_in, H),
    "URLSTM": lambda F_in, H, T: URLSTM(F_in, H),
    "LSTM": lambda F_in, H, T: LSTM(F_in, H),
    "GRU": lambda F_in, H, T: GRU(F_in, H),
    "SimpleRNN": lambda F_in, H, T: SimpleRNN(F_in, H),
    "JANET": lambda F_in, H, T: JANET(F_in, H, T),
}
FUSED_CELLS = ("LSTM", "GRU")


class Model(nn.Module):
    def __init__(self, cell, system, layers, units, T=SEQ, F_in=FEATURES, classes=CLASSES):
        super().__init__()
        if system == "pytorch-fused":
            self.rnn = FusedRNN(cell, F_in, units, layers)
            out = self.rnn.output_size
        else:
            stack, inp = [], F_in
            for _ in range(layers):
                c = LOOP_CELLS[cell](inp, units, T)
                stack.append(c)
                inp = c.output_size
            self.rnn = nn.Sequential(*stack)
            out = inp
        # tfl.layers.dense: Glorot-uniform kernel, zero bias (softmax folded into the loss / W3 output)
        self.dense = nn.Linear(out, classes)
        with torch.no_grad():
            self.dense.weight.copy_(glorot((out, classes)).t())
            self.dense.bias.zero_()

    def forward(self, x):
        """x [T, B, F] -> logits [T, B, classes]."""
        return self.dense(self.rnn(x))


def param_groups(model, lr):
    """Adam groups by learning-rate multiplier (DMU's depth-scaled rates; ours: one Adam per multiplier)."""
    by_mult = {}
    for mod in model.modules():
        mults = getattr(mod, "lr_multipliers", {})
        for name, p in mod.named_parameters(recurse=False):
            by_mult.setdefault(mults.get(name, 1.0), []).append(p)
    return [{"params": ps, "lr": lr * m} for m, ps in sorted(by_mult.items())]


# ---------------------------------------------------------------------------------------------
# Environment: threads and BLAS
# ---------------------------------------------------------------------------------------------


def loaded_blas_library():
    """Path of the BLAS shared object this process mapped (Debian's torch links libblas.so.3 → alternatives)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "/" in line}
    except OSError:
        return None
    for p in sorted(paths):
        if re.search(r"lib(open)?blas[^/]*\.so", p) or re.search(r"libmkl_rt|libblis", p):
            return p
    return None


def openblas_handle(path):
    if not path:
        return None
    try:
        lib = ctypes.CDLL(path)
        lib.openblas_get_config.restype = ctypes.c_char_p
        lib.openblas_get_config()
        return lib
    except (OSError, AttributeError):
        return None


def describe_blas():
    info = torch.__config__.show()
    m = re.search(r"BLAS_INFO=([^,\s]+)", info)
    blas_info = m.group(1) if m else "unknown"
    # make sure libblas is mapped (a first matmul loads nothing new, but be safe)
    torch.ones(2, 2) @ torch.ones(2, 2)
    path = loaded_blas_library()
    ob = openblas_handle(path)
    if ob is not None:
        cfg = ob.openblas_get_config().decode()
        return f"OpenBLAS ({cfg}) via BLAS_INFO={blas_info} -> {path}", ob
    if path and "/blas/libblas.so" in path:
        return f"reference BLAS (netlib libblas3) via BLAS_INFO={blas_info} -> {path}", None
    return f"BLAS_INFO={blas_info} -> {path or 'not found'}", None


def set_threads(n, openblas):
    torch.set_num_threads(n)
    if openblas is not None:
        # With BLAS_INFO=generic, torch does not tell OpenBLAS its thread count; do it here.
        try:
            openblas.openblas_set_num_threads(ctypes.c_int(n))
        except AttributeError:
            pass


# ---------------------------------------------------------------------------------------------
# Benchmark
# ---------------------------------------------------------------------------------------------


def bench(cell, system, workload, steps, warmup, threads, blas, seed=1):
    w = WORKLOADS[workload]
    torch.manual_seed(seed)
    seq, batch = w.get("seq", SEQ), w.get("batch", BATCH)
    model = Model(cell, system, w["layers"], w["units"], T=seq)
    params = sum(p.numel() for p in model.parameters())
    x = F.one_hot(torch.randint(0, FEATURES, (seq, batch)), FEATURES).float()  # [T, B, F] time-major
    y = torch.randint(0, CLASSES, (seq * batch,))
    train = w["train"]
    if train:
        model.train()
        opt = torch.optim.Adam(param_groups(model, 1e-3), lr=1e-3, eps=1e-7)  # tfjs Adam's epsilon

        def once():
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x).reshape(-1, CLASSES), y)  # mean over steps and batch
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()

    else:
        model.eval()

        def once():
            with torch.no_grad():
                torch.softmax(model(x), -1)

    for _ in range(warmup):
        once()
    t0 = time.perf_counter()
    for _ in range(steps):
        once()
    seconds = time.perf_counter() - t0
    return {
        "workload": workload,
        "cell": cell,
        "system": system,
        "mode": "train" if train else "infer",
        "seq": seq,
        "batch": batch,
        "params": params,
        "stepsPerSec": round(steps / seconds, 3),
        "peakRssMiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "threads": threads,
        "torch": torch.__version__,
        "blas": blas,
    }


def systems_for(cell, which):
    out = []
    if cell in FUSED_CELLS and which in ("both", "fused"):
        out.append("pytorch-fused")
    if which in ("both", "loop"):
        out.append("pytorch-loop")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workload", default="W1", choices=sorted(WORKLOADS))
    ap.add_argument("--cell", default="LSTM", choices=list(LOOP_CELLS))
    ap.add_argument("--all", action="store_true", help="every cell × W1, W2, W3")
    ap.add_argument("--system", default="both", choices=["both", "loop", "fused"], help="for LSTM/GRU: fused nn module, loop cell, or both")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None, help="intra-op threads (default: torch's, i.e. the cores)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)

    blas, openblas = describe_blas()
    threads = a.threads if a.threads is not None else torch.get_num_threads()
    set_threads(threads, openblas)

    cells = list(LOOP_CELLS) if a.all else [a.cell]
    workloads = ["W1", "W2", "W3"] if a.all else [a.workload]
    for wl in workloads:
        for cell in cells:
            for system in systems_for(cell, a.system):
                print(json.dumps(bench(cell, system, wl, a.steps, a.warmup, threads, blas, a.seed)), flush=True)


if __name__ == "__main__":
    main()
