#!/usr/bin/python3
"""Independent PyTorch UR-LSTM(64) → dense(9) training on copyUR(lag), several models at once
(stacked along a leading axis: one Python loop serves them all; each keeps its own loss, its own
global-norm clipping to 1 and its own Adam state, as separate runs would).

A model is INIT@DATA, each side either a dump of ur-dump.ts (its initial weights, its batches)
or a seed (PyTorch's own initialisation: every weight and both biases U(±1/√64) as nn.LSTM and
nn.Linear, plus the UGI vector logit U[1/64, 1 − 1/64]; batches from torch.randint). So
`cs.json@cs.json` replays cellstack's run, `1@1` is a pure PyTorch run, and the mixed forms
separate the initial weights from the data.

    /usr/bin/python3 tools/paper/torch/ur_train.py [--steps 3000] [--lag 200] [--eps 1e-8] [--out L.json] MODEL...
"""
import argparse, json, math
import torch

ap = argparse.ArgumentParser()
ap.add_argument('models', nargs='+'); ap.add_argument('--steps', type=int, default=3000); ap.add_argument('--lag', type=int, default=200)
ap.add_argument('--eps', type=float, default=1e-8, help="Adam's ε (PyTorch 1e-8, tf 1e-7)"); ap.add_argument('--out')
ap.add_argument('--draw', default='separate', choices=['separate', 'shared'],
                help="seed N@N: init and data from two generators (separate) or, as torch.manual_seed(N) in the earlier script, one stream: UGI vector, kernel, recurrent, both biases, head, then the batches (shared)")
ap.add_argument('--export', help='write each model as a dump (PREFIX-K.json: initial weights, --steps batches) for ur-dump.ts FROM=… and stop')
a = ap.parse_args()
torch.set_num_threads(1)
H, F, C, S, B = 64, 10, 9, 10, 10
T = a.lag + 2 * S
dumps = {}
load = lambda p: dumps.setdefault(p, json.load(open(p)))
is_seed = lambda side: side.isdigit()


def torch_init(seed, g=None):
    if g is not None:  # the shared stream's order
        k = 1 / math.sqrt(H)
        ugi = torch.rand(H, generator=g) * (1 - 2 / H) + 1 / H
        w = {'gateBias': torch.log(ugi / (1 - ugi))}
        w['kernel'] = torch.empty(F, 4 * H).uniform_(-k, k, generator=g)
        w['recurrent'] = torch.empty(H, 4 * H).uniform_(-k, k, generator=g)
        w['bias'] = torch.empty(4 * H).uniform_(-k, k, generator=g) + torch.empty(4 * H).uniform_(-k, k, generator=g)
        w['d_kernel'] = torch.empty(H, C).uniform_(-1 / 8, 1 / 8, generator=g)
        w['d_bias'] = torch.empty(C).uniform_(-1 / 8, 1 / 8, generator=g)
        return w
    g = torch.Generator().manual_seed(seed)
    u = lambda *shape, k=1 / math.sqrt(H): (torch.rand(*shape, generator=g) * 2 - 1) * k
    ugi = torch.rand(H, generator=g) * (1 - 2 / H) + 1 / H
    return {'kernel': u(F, 4 * H), 'recurrent': u(H, 4 * H), 'bias': u(4 * H) + u(4 * H), 'gateBias': torch.log(ugi / (1 - ugi)),
            'd_kernel': u(H, C), 'd_bias': u(C)}


def dump_init(path):
    short = lambda k: k.split('/')[-1] if not k.startswith('dense') else 'd_' + k.split('/')[-1]
    return {short(k): torch.tensor(v['data']).reshape(v['shape']) for k, v in load(path)['weights0'].items()}


inits, streams = [], []
for m in a.models:
    i, dsrc = m.split('@')
    shared = torch.Generator().manual_seed(int(i)) if a.draw == 'shared' and is_seed(i) and i == dsrc else None
    inits.append(torch_init(int(i), shared) if is_seed(i) else dump_init(i))
    streams.append(shared or (torch.Generator().manual_seed(int(dsrc)) if is_seed(dsrc) else load(dsrc)['symbols']))
M = len(a.models)
W = {n: torch.stack([w[n] for w in inits]).requires_grad_(True) for n in inits[0]}


def data_of(step):
    out = []
    for s in streams:
        out.append(torch.randint(1, 9, (B, S), generator=s) if isinstance(s, torch.Generator) else torch.tensor(s[step]).reshape(B, S))
    return torch.stack(out)  # [M, B, S]


def losses(data):
    seq = torch.cat([data, torch.zeros(M, B, a.lag, dtype=torch.long), torch.full((M, B, S), 9)], 2)
    x = torch.nn.functional.one_hot(seq, F).float()
    gb = W['gateBias']
    bias = W['bias'] + torch.cat([gb, -gb, torch.zeros(M, 2 * H)], 1)
    xp = torch.einsum('mbtf,mfg->mbtg', x, W['kernel']) + bias[:, None, None]
    h = torch.zeros(M, B, H); c = torch.zeros(M, B, H)
    outs = []
    for t in range(T):
        z = xp[:, :, t] + torch.bmm(h, W['recurrent'])
        zf, zr, zo, zu = z.split(H, 2)
        f = torch.sigmoid(zf); r = torch.sigmoid(zr)
        g = r * (1 - (1 - f) ** 2) + (1 - r) * f ** 2
        c = g * c + (1 - g) * torch.tanh(zu)
        h = torch.sigmoid(zo) * torch.tanh(c)
        if t >= T - S: outs.append(h)
    logits = torch.einsum('mbsh,mhc->mbsc', torch.stack(outs, 2), W['d_kernel']) + W['d_bias'][:, None, None]
    return -torch.log_softmax(logits, -1).gather(-1, data.unsqueeze(-1)).squeeze(-1).mean((1, 2))  # [M]


if a.export:  # cellstack's names and layout are the ones used here
    cs = {'kernel': 'urlstm_0/kernel', 'recurrent': 'urlstm_0/recurrent', 'bias': 'urlstm_0/bias', 'gateBias': 'urlstm_0/gateBias', 'd_kernel': 'dense_1/kernel', 'd_bias': 'dense_1/bias'}
    symbols = [data_of(step) for step in range(a.steps)]
    for k, m in enumerate(a.models):
        w0 = {cs[n]: {'shape': list(w.shape[1:]), 'data': w[k].detach().reshape(-1).tolist()} for n, w in W.items()}
        json.dump({'lag': a.lag, 'model': m, 'weights0': w0, 'symbols': [s[k].reshape(-1).tolist() for s in symbols]}, open(f'{a.export}-{k}.json', 'w'))
    raise SystemExit(0)
opt = torch.optim.Adam(list(W.values()), lr=1e-3, eps=a.eps)
curve = [[] for _ in range(M)]
for step in range(a.steps):
    l = losses(data_of(step))
    opt.zero_grad(); l.sum().backward()
    with torch.no_grad():  # clip_grad_norm_(max_norm 1) per model
        norms = torch.sqrt(sum((w.grad.reshape(M, -1) ** 2).sum(1) for w in W.values()))
        scale = (1.0 / (norms + 1e-6)).clamp(max=1.0)
        for w in W.values(): w.grad.mul_(scale.reshape(M, *[1] * (w.dim() - 1)))
    opt.step()
    for k in range(M): curve[k].append(float(l[k]))
    if step % 100 == 99:
        print(f"step {step + 1}: " + '  '.join(f"{sum(cv[-100:]) / 100:.4f}" for cv in curve), flush=True)

ln8 = math.log(8)
for m, cv in zip(a.models, curve):
    tail = cv[-len(cv) // 10:]
    below = next((k * 100 + 100 for k in range(len(cv) // 100) if sum(cv[k * 100:k * 100 + 100]) / 100 < 0.9 * ln8), None)
    print(f"{m}: final (last 10 %) {sum(tail) / len(tail):.4f} = {100 * sum(tail) / len(tail) / ln8:.1f} % of ln 8; first 100-step mean below 0.9·ln 8: {below or 'never'}")
if a.out:
    json.dump({'models': a.models, 'lag': a.lag, 'eps': a.eps, 'losses': curve}, open(a.out, 'w'))
