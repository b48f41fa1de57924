"""The training loop the Python benchmarks share, step for step what `sims
train` does: EDM loss weight (s^2 + sd^2) / (s sd)^2 on log-normal sigmas
(P_mean -1.2, P_std 1.2), Adam with a linear lr ramp-up over 10k images,
non-finite gradients zeroed, EMA with a half-life of min(500k, 5% of images
seen). Returns the images seen, the seconds and the loss of each step."""
import time

import torch


def train(net, ema, data, batch, images, sd=0.5):
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    params, ema_params = list(net.parameters()), list(ema.parameters())
    seen, curve = 0, []
    start = time.perf_counter()
    while seen < images:
        y = data[torch.randint(0, data.shape[0], (batch,))]
        sigma = (torch.randn(batch) * 1.2 - 1.2).exp()
        n = torch.randn_like(y)
        for g in opt.param_groups:
            g["lr"] = 1e-3 * min(1.0, (seen + batch) / 10000)
        opt.zero_grad()
        s = sigma.reshape((-1,) + (1,) * (y.dim() - 1))
        w = (s * s + sd * sd) / (s * sd) ** 2
        loss = (w * (net(y + n * s, sigma) - y) ** 2).reshape(batch, -1).sum(1).mean()
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
    return seen, time.perf_counter() - start, curve
