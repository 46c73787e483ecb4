#!/usr/bin/python3
"""Step-by-step check of a cellstack UR-LSTM run (a dump of ur-dump.ts) against an independent
PyTorch UR-LSTM: same initial weights (cellstack layout: kernel [F, 4H] and recurrent [H, 4H] with
columns f | r | o | u, one linear bias, the UGI vector added to f and subtracted from r; head
[H, 9]), same batches, same loss (mean over batch and the 10 scored steps of −log p, p clipped
to [1e-7, 1] as tf's crossentropy), global-norm clipping to 1, Adam(1e-3, β 0.9/0.999, ε 1e-7 as tf).

Each recorded step: the loss, every unclipped gradient, every gradient after clipping, and every
update (weights after − before); PyTorch is then reset to cellstack's weights (sync), so each step
is checked on its own. The last line names the first quantity whose relative difference exceeds
the tolerance (float noise: 1e-4 at float32, 1e-5 at float64), or says that none did.

    /usr/bin/python3 tools/paper/torch/ur_check.py DUMP.json [--dtype float32|float64] [--tol T]
"""
import argparse, json, math
import torch

ap = argparse.ArgumentParser()
ap.add_argument('dump'); ap.add_argument('--dtype', default='float32'); ap.add_argument('--tol', type=float)
ap.add_argument('--quiet', action='store_true')
a = ap.parse_args()
dtype = getattr(torch, a.dtype)
tol = a.tol if a.tol is not None else (1e-4 if dtype == torch.float32 else 1e-5)
torch.set_default_dtype(dtype)
torch.set_num_threads(1)
d = json.load(open(a.dump))
short = lambda k: k.split('/')[-1] if not k.startswith('dense') else 'd_' + k.split('/')[-1]
names = {k: short(k) for k in d['weights0']}
W = {short(k): torch.tensor(v['data'], dtype=dtype).reshape(v['shape']).requires_grad_(True) for k, v in d['weights0'].items()}
H = W['recurrent'].shape[0]
S, lag = 10, d['lag']
T = lag + 2 * S


def forward(x):
    B = x.shape[0]
    h = torch.zeros(B, H); c = torch.zeros(B, H)
    gb = W.get('gateBias')
    bias = W['bias'] + (torch.cat([gb, -gb, torch.zeros(2 * H)]) if gb is not None else 0)
    xp = x @ W['kernel'] + bias
    outs = []
    for t in range(T):
        z = xp[:, t] + h @ W['recurrent']
        zf, zr, zo, zu = z.split(H, 1)
        f = torch.sigmoid(zf); r = torch.sigmoid(zr)
        g = r * (1 - (1 - f) ** 2) + (1 - r) * f ** 2
        c = g * c + (1 - g) * torch.tanh(zu)
        h = torch.sigmoid(zo) * torch.tanh(c)
        if t >= T - S: outs.append(h)
    return torch.softmax(torch.stack(outs, 1) @ W['d_kernel'] + W['d_bias'], -1)


def batch(symbols):
    """The copyUR batch of ur-dump's data symbols: S symbols, lag blanks (0), S cues (9)."""
    data = torch.tensor(symbols).reshape(10, S)
    seq = torch.cat([data, torch.zeros(10, lag, dtype=torch.long), torch.full((10, S), 9)], 1)
    return torch.nn.functional.one_hot(seq, 10).to(dtype), data


def loss_of(x, data):
    p = forward(x).clamp(1e-7, 1)
    return -torch.log(p.gather(-1, data.unsqueeze(-1))).mean()


rel = lambda t, c: float((t - c).norm() / max(float(t.norm()), 1e-30))
opt = torch.optim.Adam(list(W.values()), lr=1e-3, eps=1e-7)
first, worst = None, {}
def note(s, what, r):
    global first
    worst[what] = max(worst.get(what, 0), r)
    if r > tol and first is None: first = (s, what, r)

for s, st in enumerate(d['steps']):
    x, data = batch(d['symbols'][s])
    l = loss_of(x, data)
    opt.zero_grad(); l.backward()
    note(s, 'loss', abs(l.item() - st['loss']) / abs(st['loss']))
    note(s, 'loss (trainOnBatch)', abs(l.item() - st['trainLoss']) / abs(st['trainLoss']))
    gcs = {n: torch.tensor(st['grads'][k], dtype=dtype).reshape(W[n].shape) for k, n in names.items()}
    for n in W: note(s, f'grad {n}', rel(W[n].grad, gcs[n]))
    norm = math.sqrt(sum(float(w.grad.norm()) ** 2 for w in W.values()))
    norm_cs = math.sqrt(sum(float(g.norm()) ** 2 for g in gcs.values()))
    note(s, 'global norm', abs(norm - norm_cs) / norm_cs)
    torch.nn.utils.clip_grad_norm_(list(W.values()), 1.0)
    for n in W: note(s, f'clipped grad {n}', rel(W[n].grad, gcs[n] / max(norm_cs, 1.0)))
    before = {n: w.detach().clone() for n, w in W.items()}
    opt.step()
    for k, n in names.items():
        after = torch.tensor(st['after'][k]['data'], dtype=dtype).reshape(W[n].shape)
        note(s, f'update {n}', rel(W[n].detach() - before[n], after - before[n]))
    if not a.quiet:
        print(f"step {s + 1}: loss torch {l.item():.7f} cellstack {st['loss']:.7f}, global norm torch {norm:.5f} cellstack {norm_cs:.5f}")
    with torch.no_grad():  # sync: the next step starts from cellstack's weights
        for k, n in names.items(): W[n].copy_(torch.tensor(st['after'][k]['data'], dtype=dtype).reshape(W[n].shape))

print(f"{len(d['steps'])} steps at {a.dtype}, largest relative differences:")
for what, r in worst.items(): print(f"  {what:26s} {r:.1e}")
print(f"first beyond {tol:g}: step {first[0] + 1}, {first[1]} ({first[2]:.1e})" if first else f"none beyond {tol:g}: loss, gradients, clipping and updates agree step by step")
