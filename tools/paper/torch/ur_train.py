#!/usr/bin/python3
"""Independent PyTorch UR-LSTM training on copyUR(lag): from cellstack's initial weights (a dump
of ur-dump.ts) or a PyTorch-style init; prints the mean loss every 100 steps."""
import argparse, json, math
import torch

ap = argparse.ArgumentParser()
ap.add_argument('--dump'); ap.add_argument('--lag', type=int, default=200); ap.add_argument('--steps', type=int, default=1500)
ap.add_argument('--seed', type=int, default=1); ap.add_argument('--init', default='cellstack')
ap.add_argument('--zero', default='', help='comma list of params to re-draw torch-style: kernel,recurrent,bias,head')
a = ap.parse_args()
torch.manual_seed(a.seed)
torch.set_num_threads(1)
H = 64
if a.dump:
    d = json.load(open(a.dump))
    W = {}
    for k, v in d['weights0'].items():
        n = k.split('/')[-1] if 'urlstm' in k else 'd_' + k.split('/')[-1]
        W[n] = torch.tensor(v['data'], dtype=torch.float32).reshape(v['shape'])
else:
    W = {'kernel': torch.zeros(10, 4 * H), 'recurrent': torch.zeros(H, 4 * H), 'bias': torch.zeros(4 * H),
         'gateBias': torch.zeros(H), 'd_kernel': torch.zeros(H, 9), 'd_bias': torch.zeros(9)}
    u = torch.rand(H) * (1 - 2 / H) + 1 / H
    W['gateBias'] = torch.log(u / (1 - u))
    a.zero = 'kernel,recurrent,bias,head'
k = 1 / math.sqrt(H)
for n in filter(None, a.zero.split(',')):
    if n == 'head':
        W['d_kernel'] = torch.empty(H, 9).uniform_(-1 / 8, 1 / 8); W['d_bias'] = torch.empty(9).uniform_(-1 / 8, 1 / 8)
    elif n == 'bias':
        W['bias'] = torch.empty(4 * H).uniform_(-k, k) + torch.empty(4 * H).uniform_(-k, k)
    else:
        W[n] = torch.empty(W[n].shape).uniform_(-k, k)
for w in W.values(): w.requires_grad_(True)
T = a.lag + 20


def loss_of(x, y):
    B = x.shape[0]
    h = torch.zeros(B, H); c = torch.zeros(B, H)
    gb = W['gateBias']
    bias = W['bias'] + torch.cat([gb, -gb, torch.zeros(2 * H)])
    xp = x @ W['kernel'] + bias
    outs = []
    for t in range(T):
        z = xp[:, t] + h @ W['recurrent']
        zf, zr, zo, zu = z.split(H, 1)
        f = torch.sigmoid(zf); r = torch.sigmoid(zr)
        g = r * (1 - (1 - f) ** 2) + (1 - r) * f ** 2
        c = g * c + (1 - g) * torch.tanh(zu)
        h = torch.sigmoid(zo) * torch.tanh(c)
        if t >= T - 10: outs.append(h)
    logits = torch.stack(outs, 1) @ W['d_kernel'] + W['d_bias']
    return torch.nn.functional.cross_entropy(logits.reshape(-1, 9), y.reshape(-1))


opt = torch.optim.Adam(list(W.values()), lr=1e-3)
acc = []
for s in range(a.steps):
    data = torch.randint(1, 9, (10, 10))
    sym = torch.cat([data, torch.zeros(10, a.lag, dtype=torch.long), torch.full((10, 10), 9)], 1)
    x = torch.nn.functional.one_hot(sym, 10).float()
    l = loss_of(x, data)
    opt.zero_grad(); l.backward()
    torch.nn.utils.clip_grad_norm_(list(W.values()), 1.0)
    opt.step()
    acc.append(l.item())
    if s % 100 == 99:
        print(f"step {s + 1}: {sum(acc[-100:]) / 100:.4f}", flush=True)
