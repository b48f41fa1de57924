#!/usr/bin/env python3
"""An independent PyTorch reference for `sims loop --family diffusion2d --model ddpm` at generation 1.

Trains the SIMS paper's Fig. 4 model (epsilon-MLP on [x, t] with residual blocks, cosine schedule s = 0.008,
T steps, Adam lr 1e-3 falling linearly per epoch to 1 %, batch B, 100 epochs) on |D_r| = 1000 points of
N(0, [[2,1],[1,2]]), samples 1000 points with the DDPM ancestral sampler and prints the closed-form W2 between
the Gaussian fitted to them and p_r, per seed and as mean / median over seeds: the numbers `sims loop ...
--generations 1` gives for E[dist(G^1)]. Written from the papers' description, not from the C++ code.
usage: /usr/bin/python3 bench/ddpm_reference.py [SEEDS=16] [BATCH=2048] [EPOCHS=100]
"""
import math
import statistics
import sys

import numpy as np
import torch
from torch import nn

SEEDS = int(sys.argv[1]) if len(sys.argv) > 1 else 16
BATCH = int(sys.argv[2]) if len(sys.argv) > 2 else 2048
EPOCHS = int(sys.argv[3]) if len(sys.argv) > 3 else 100
T, WIDTH, BLOCKS = 40, 64, 4
COV = np.array([[2.0, 1.0], [1.0, 2.0]])


def cosine_alpha_bar(steps, s=0.008):
    f = [math.cos((t / steps + s) / (1 + s) * math.pi / 2) ** 2 for t in range(steps + 1)]
    ab = [f[t] / f[0] for t in range(steps)]
    beta = [0.0] + [1 - ab[t] / ab[t - 1] for t in range(1, steps)]
    return torch.tensor(ab), torch.tensor(beta)


class Block(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.a, self.na = nn.Linear(w + 1, w + 1), nn.LayerNorm(w + 1)
        self.b, self.nb = nn.Linear(w + 1, w), nn.LayerNorm(w)

    def forward(self, h, t):
        u = torch.relu(self.na(self.a(torch.cat([h, t], 1))))
        return h + torch.relu(self.nb(self.b(u)))


class EpsNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(3, WIDTH)
        self.blocks = nn.ModuleList(Block(WIDTH) for _ in range(BLOCKS))
        self.out = nn.Linear(WIDTH, 2)

    def forward(self, x, t):
        t = t.float().unsqueeze(1)
        h = self.inp(torch.cat([x, t], 1))
        for b in self.blocks:
            h = b(h, t)
        return self.out(h)


def w2_to_pr(x):
    mu, c = x.mean(0), np.cov(x.T)
    ev, V = np.linalg.eigh(COV)
    r = V @ np.diag(np.sqrt(ev)) @ V.T
    m = r @ c @ r
    e2, V2 = np.linalg.eigh(m)
    cross = V2 @ np.diag(np.sqrt(np.clip(e2, 0, None))) @ V2.T
    return math.sqrt(max(0.0, mu @ mu + np.trace(c) + np.trace(COV) - 2 * np.trace(cross)))


def one(seed):
    torch.manual_seed(seed)
    data = torch.randn(1000, 2) @ torch.linalg.cholesky(torch.tensor(COV, dtype=torch.float32)).T
    ab, beta = cosine_alpha_bar(T)
    net = EpsNet()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LinearLR(opt, 1.0, 0.01, total_iters=EPOCHS)
    for _ in range(EPOCHS):
        perm = torch.randperm(len(data))
        for i in range(0, len(data), BATCH):
            x0 = data[perm[i:i + BATCH]]
            t = torch.randint(0, T, (len(x0),))
            e = torch.randn_like(x0)
            a = ab[t].unsqueeze(1)
            loss = ((net(a.sqrt() * x0 + (1 - a).sqrt() * e, t) - e) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    with torch.no_grad():
        x = torch.randn(1000, 2)
        for t in range(T - 1, 0, -1):
            tt = torch.full((1000,), t)
            eps = net(x, tt)
            x = (x - beta[t] / (1 - ab[t]).sqrt() * eps) / (1 - beta[t]).sqrt()
            if t > 1:
                x = x + beta[t].sqrt() * torch.randn_like(x)
    return w2_to_pr(x.double().numpy())


torch.set_num_threads(1)
w = [one(s) for s in range(SEEDS)]
print("W2 per seed:", " ".join(f"{v:.3f}" for v in w))
print(f"batch {BATCH}, {EPOCHS} epochs, {SEEDS} seeds: mean {statistics.mean(w):.3f}, median {statistics.median(w):.3f}")
