#!/usr/bin/python3
"""The Python/PyTorch side of bench_train.sh: the same MLP (Fourier sigma
embedding, SiLU), EDM preconditioning and loss, Adam with lr ramp-up, EMA and
the non-finite-gradient guard that `sims train` runs, on the same data size,
batch and thread count. Prints {"images_per_second": ...}.

usage: train_mlp.py WIDTH DEPTH BATCH IMAGES THREADS
"""
import json
import math
import sys
import time

import torch
from torch import nn


class EdmMlp(nn.Module):
    def __init__(self, dim=2, width=128, depth=3, freqs=8, sigma_data=0.5):
        super().__init__()
        layers, inp = [], dim + 1 + 2 * freqs
        for i in range(depth):
            layers += [nn.Linear(inp if i == 0 else width, width), nn.SiLU()]
        layers += [nn.Linear(width, dim)]
        self.net = nn.Sequential(*layers)
        self.register_buffer("freqs", 2.0 ** torch.arange(freqs, dtype=torch.float32) * math.pi)
        self.sd = sigma_data

    def forward(self, x, sigma):
        s = sigma.reshape(-1, 1)
        sd = self.sd
        c_skip = sd * sd / (s * s + sd * sd)
        c_out = s * sd / (s * s + sd * sd).sqrt()
        c_in = 1 / (s * s + sd * sd).sqrt()
        c_noise = s.log() / 4
        a = c_noise * self.freqs.unsqueeze(0)
        f = self.net(torch.cat([x * c_in, c_noise, a.sin(), a.cos()], 1))
        return c_skip * x + c_out * f


def main():
    width, depth, batch, images, threads = (int(a) for a in sys.argv[1:6])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    data = torch.randn(1000, 2) @ torch.tensor([[1.41, 0.0], [0.71, 1.22]])
    net = EdmMlp(width=width, depth=depth)
    ema = EdmMlp(width=width, depth=depth)
    ema.load_state_dict(net.state_dict())
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    params, ema_params = list(net.parameters()), list(ema.parameters())
    seen, curve = 0, []
    start = time.perf_counter()
    while seen < images:
        idx = torch.randint(0, data.shape[0], (batch,))
        y = data[idx]
        sigma = (torch.randn(batch) * 1.2 - 1.2).exp()
        n = torch.randn_like(y)
        for g in opt.param_groups:
            g["lr"] = 1e-3 * min(1.0, (seen + batch) / 10000)
        opt.zero_grad()
        s = sigma.reshape(-1, 1)
        w = (s * s + 0.25) / (s * 0.5) ** 2
        loss = (w * (net(y + n * s, sigma) - y) ** 2).sum(1).mean()
        loss.backward()
        for p in params:
            if not torch.isfinite(p.grad).all():
                torch.nan_to_num_(p.grad, nan=0, posinf=1e5, neginf=-1e5)
        opt.step()
        seen += batch
        hl = min(500000, seen * 0.05)
        beta = 0.5 ** (batch / max(hl, 1e-8))
        with torch.no_grad():
            for pe, p in zip(ema_params, params):
                pe.copy_(p.detach().lerp(pe, beta))
        curve.append(loss.item())
    secs = time.perf_counter() - start
    print(json.dumps({"images_per_second": seen / secs, "seconds": secs}))


if __name__ == "__main__":
    main()
