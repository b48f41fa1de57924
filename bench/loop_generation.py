#!/usr/bin/python3
"""The Python/PyTorch side of bench_fig4.sh: one generation of the SIMS
paper's Fig. 4 protocol (synthetic augmentation loop, 2D Gaussian) for R
independent runs, written the way one would in PyTorch: the R EDM MLPs as
one batched ensemble (stacked weights, torch.baddbmm), each run with its own
random generator per step, Adam on the stacked tensors, EMA, NaN guard; then
the SIMS steps (sample S from the base, fine-tune the auxiliary from the
base's EMA, sample with D = (1+w) D_base - w D_aux, 18 Heun steps, float64
updates) and the fitted-Gaussian W2 per run. Same sizes and work as
`sims loop --family diffusion2d --generations 1` with the bench's settings.

usage: loop_generation.py RUNS THREADS [WIDTH=32] [N_SYNTH=250] [OMEGA=1] [FIRST=0]
  FIRST=1: generation 1 (train on the 1000 real points only); else a later
  generation (real points + a pool of N_SYNTH points).
Prints {"seconds": ..., "w2_mean": ...}.
"""
import json
import math
import sys
import time

import torch

from edm_heun import heun, time_steps

SD = 0.5
DEPTH, FREQS, BATCH, LR, RAMP = 3, 8, 256, 1e-3, 10000


def init_ensemble(R, width, seed):
    torch.manual_seed(seed)
    dims = [2 + 1 + 2 * FREQS] + [width] * DEPTH + [2]
    ws, bs = [], []
    for i, o in zip(dims[:-1], dims[1:]):
        bound = 1 / math.sqrt(i)
        ws.append(torch.empty(R, i, o).uniform_(-bound, bound))
        bs.append(torch.empty(R, 1, o).uniform_(-bound, bound))
    return ws, bs


FREQ = 2.0 ** torch.arange(FREQS, dtype=torch.float32) * math.pi


def denoise(ws, bs, x, sigma):  # x [R, B, 2], sigma [R, B, 1]
    c_skip = SD * SD / (sigma * sigma + SD * SD)
    c_out = sigma * SD / (sigma * sigma + SD * SD).sqrt()
    c_in = 1 / (sigma * sigma + SD * SD).sqrt()
    c_noise = sigma.log() / 4
    a = c_noise * FREQ
    h = torch.cat([x * c_in, c_noise, a.sin(), a.cos()], 2)
    for l in range(len(ws) - 1):
        h = torch.nn.functional.silu(torch.baddbmm(bs[l], h, ws[l]))
    return c_skip * x + c_out * torch.baddbmm(bs[-1], h, ws[-1])


def train(ws, bs, data, images, seed):
    R, N, D = data.shape
    params = [t.clone().requires_grad_(True) for t in ws + bs]
    ema = [t.clone() for t in ws + bs]
    opt = torch.optim.Adam(params, lr=LR, betas=(0.9, 0.999), eps=1e-8)
    L = len(ws)
    offsets = (torch.arange(R) * N).unsqueeze(1)
    flat = data.reshape(R * N, D)
    seen, step = 0, 0
    while seen < images:
        b = min(BATCH, images - seen)
        idx, sig, nz = [], [], []
        for r in range(R):
            g = torch.Generator().manual_seed(seed * 1000003 + r * 7919 + step)
            idx.append(torch.randint(0, N, (b,), generator=g))
            sig.append((torch.randn(b, generator=g) * 1.2 - 1.2).exp())
            nz.append(torch.randn(b, D, generator=g))
        y = flat[(torch.stack(idx) + offsets).reshape(-1)].reshape(R, b, D)
        s = torch.stack(sig).unsqueeze(2)
        n = torch.stack(nz)
        for grp in opt.param_groups:
            grp["lr"] = LR * min(1.0, (seen + b) / RAMP)
        opt.zero_grad()
        w = (s * s + SD * SD) / (s * SD) ** 2
        losses = (w * (denoise(params[:L], params[L:], y + n * s, s) - y) ** 2).sum(2).mean(1)
        losses.sum().backward()
        if not torch.isfinite(torch.stack([p.grad.sum() for p in params]).sum()):
            for p in params:
                torch.nan_to_num_(p.grad, nan=0, posinf=1e5, neginf=-1e5)
        opt.step()
        seen += b
        step += 1
        hl = min(500000, seen * 0.05)
        beta = 0.5 ** (b / max(hl, 1e-8))
        with torch.no_grad():
            for pe, p in zip(ema, params):
                pe.lerp_(p.detach(), 1 - beta)
    return ema[:L], ema[L:]


@torch.inference_mode()
def sample(base, aux, noise, omega):
    t = time_steps()
    R, n, _ = noise.shape

    def ev(x, s):
        xf = x.float()
        sig = torch.full((R, n, 1), s)
        d = denoise(*base, xf, sig).double()
        if aux is None:
            return d
        return d * (1 + omega) - omega * denoise(*aux, xf, sig).double()

    return heun(ev, noise, t)


def w2_gaussian(x, mu_r, cov_r):
    out = []
    for xi in x:
        mu, cov = xi.mean(0), torch.cov(xi.T)
        r = torch.linalg.eigh(cov_r)
        sq = r.eigenvectors @ torch.diag(r.eigenvalues.sqrt()) @ r.eigenvectors.T
        m = sq @ cov @ sq
        ev = torch.linalg.eigvalsh(m).clamp(min=0).sqrt().sum()
        out.append(float(((mu - mu_r) ** 2).sum() + cov.trace() + cov_r.trace() - 2 * ev))
    return out


def main():
    R, threads = int(sys.argv[1]), int(sys.argv[2])
    width = int(sys.argv[3]) if len(sys.argv) > 3 else 32
    n_synth = int(sys.argv[4]) if len(sys.argv) > 4 else 250
    omega = float(sys.argv[5]) if len(sys.argv) > 5 else 1.0
    first = len(sys.argv) > 6 and sys.argv[6] == "1"
    torch.set_num_threads(threads)
    cov_r = torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    chol = torch.linalg.cholesky(cov_r).float()
    g = torch.Generator().manual_seed(1)
    real = torch.randn(R, 1000, 2, generator=g) @ chol.T
    pool = torch.randn(R, n_synth, 2, generator=g) @ chol.T  # stands in for D_s^{t-1}
    data = real.contiguous() if first else torch.cat([real, pool], 1).contiguous()
    start = time.perf_counter()
    base = train(*init_ensemble(R, width, 1), data, 100 * data.shape[1], 2)
    S = sample(base, None, torch.randn(R, 2000, 2, generator=g, dtype=torch.float64), 0.0)
    aux = train(base[0], base[1], S.float(), 50 * 2000, 3)
    x = sample(base, aux, torch.randn(R, max(n_synth, 1000), 2, generator=g, dtype=torch.float64), omega)
    w2 = w2_gaussian(x[:, :1000], torch.zeros(2, dtype=torch.float64), cov_r)
    secs = time.perf_counter() - start
    print(json.dumps({"seconds": secs, "runs": R, "threads": threads, "w2_mean": sum(w2) / len(w2)}))


if __name__ == "__main__":
    main()
