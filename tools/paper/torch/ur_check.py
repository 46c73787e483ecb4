#!/usr/bin/python3
"""Independent PyTorch UR-LSTM, fed cellstack's dump (ur-dump.ts): same initial weights, same
batches; prints loss, per-parameter gradient and update differences step by step."""
import json, sys, math
import torch

torch.set_default_dtype(torch.float64)
d = json.load(open(sys.argv[1]))
W = {k.split('/')[-1] if 'urlstm' in k else 'd_' + k.split('/')[-1]: torch.tensor(v['data'], dtype=torch.float64).reshape(v['shape']).requires_grad_(True) for k, v in d['weights0'].items()}
names = {k: (k.split('/')[-1] if 'urlstm' in k else 'd_' + k.split('/')[-1]) for k in d['weights0']}
H = W['recurrent'].shape[0]
preset = d['preset']


def forward(x):
    B, T, _ = x.shape
    h = torch.zeros(B, H); c = torch.zeros(B, H)
    gb = W.get('gateBias')
    bias = W['bias']
    if gb is not None:
        bias = bias + torch.cat([gb, -gb, torch.zeros(2 * H)])
    outs = []
    for t in range(T):
        z = x[:, t] @ W['kernel'] + bias + h @ W['recurrent']
        zf, zr, zo, zu = z.split(H, 1)
        f = torch.sigmoid(zf); r = torch.sigmoid(zr)
        g = r * (1 - (1 - f) ** 2) + (1 - r) * f ** 2
        u = torch.tanh(zu)
        c = g * c + (1 - g) * u
        h = torch.sigmoid(zo) * torch.tanh(c)
        outs.append(h)
    hs = torch.stack(outs, 1)
    return torch.softmax(hs @ W['d_kernel'] + W['d_bias'], -1)


def loss_of(x, y):
    p = forward(x)[:, -10:]
    return -(y[:, -10:] * torch.log(p.clamp(1e-7, 1))).sum(-1).mean()


def batch(xs, T):
    x = torch.tensor(xs, dtype=torch.float64).reshape(10, T, 10)
    sym = x.argmax(-1)
    y = torch.zeros(10, T, 9)
    data = sym[:, :10]
    y[:, -10:] = torch.nn.functional.one_hot(data, 9).double()
    return x, y

T = 10 + d['lag'] + 10
opt = torch.optim.Adam(list(W.values()), lr=1e-3, eps=1e-7)
for s, st in enumerate(d['steps']):
    x, y = batch(st['x'], T)
    l = loss_of(x, y)
    opt.zero_grad(); l.backward()
    print(f"step {s}: loss torch {l.item():.6f} cellstack {st['loss']:.6f} (train {st['trainLoss']:.6f})")
    for k, n in names.items():
        gt = W[n].grad; gc = torch.tensor(st['grads'][k]).reshape(gt.shape)
        rel = (gt - gc).norm() / max(gt.norm(), 1e-12)
        print(f"   grad {n:10s} |g| torch {gt.norm():.4e} cs {gc.norm():.4e} rel diff {rel:.2e}")
    total = math.sqrt(sum(float(w.grad.norm()) ** 2 for w in W.values()))
    torch.nn.utils.clip_grad_norm_(list(W.values()), 1.0)
    before = {n: w.detach().clone() for n, w in W.items()}
    opt.step()
    print(f"   global grad norm {total:.4f}")
    if st.get('after'):
        for k, n in names.items():
            dt = W[n].detach() - before[n]
            dc = torch.tensor(st['after'][k]['data']).reshape(dt.shape) - before[n]
            print(f"   update {n:10s} rel diff {(dt - dc).norm() / max(dt.norm(), 1e-12):.2e}")
        # keep in lockstep with cellstack's weights
        with torch.no_grad():
            for k, n in names.items():
                W[n].copy_(torch.tensor(st['after'][k]['data']).reshape(W[n].shape))
