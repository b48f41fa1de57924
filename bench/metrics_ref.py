#!/usr/bin/python3
"""Python references for bench/bench_metrics.sh (numpy / torch; scipy is not installed).

usage: metrics_ref.py gen DIR                  writes the benchmark inputs
       metrics_ref.py fd A.npy B.npy           Fréchet distance (float64, sqrtm via eigh)
       metrics_ref.py fd_torch A.npy B.npy     same in torch (float64)
       metrics_ref.py fd_boot A.npy B.npy R    FD in torch plus R bootstrap resamples of B's rows (A's sqrt once)
       metrics_ref.py pr REAL.npy FAKE.npy K   improved precision/recall (torch cdist in blocks)
       metrics_ref.py w2 A.npy B.npy           exact W2 with POT if installed, else reports that none exists
Prints one JSON line {"value"...} with the result.
"""
import json
import os
import sys
import time

import numpy as np


def fd_numpy(a, b):
    def stats(x):
        x = x.astype(np.float64)
        return x.mean(0), np.cov(x, rowvar=False)
    m1, s1 = stats(a)
    m2, s2 = stats(b)
    w, v = np.linalg.eigh(s1)
    r = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = r @ s2 @ r
    ev = np.linalg.eigvalsh((m + m.T) / 2)
    return float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(ev, 0, None)).sum())


def fd_boot(a, b, resamples):
    import torch
    x, y = torch.from_numpy(a).double(), torch.from_numpy(b).double()
    m1, s1 = x.mean(0), torch.cov(x.T)
    w, v = torch.linalg.eigh(s1)
    r = (v * w.clamp(min=0).sqrt()) @ v.T
    def fd_to(yy):
        m2, s2 = yy.mean(0), torch.cov(yy.T)
        m = r @ s2 @ r
        ev = torch.linalg.eigvalsh((m + m.T) / 2)
        return float(((m1 - m2) ** 2).sum() + s1.trace() + s2.trace() - 2 * ev.clamp(min=0).sqrt().sum())
    g = torch.Generator().manual_seed(0)
    reps = [fd_to(y[torch.randint(len(y), (len(y),), generator=g)]) for _ in range(resamples)]
    return fd_to(y), float(np.std(reps, ddof=1))


def fd_torch(a, b):
    import torch
    def stats(x):
        x = torch.from_numpy(x).double()
        return x.mean(0), torch.cov(x.T)
    m1, s1 = stats(a)
    m2, s2 = stats(b)
    w, v = torch.linalg.eigh(s1)
    r = (v * w.clamp(min=0).sqrt()) @ v.T
    m = r @ s2 @ r
    ev = torch.linalg.eigvalsh((m + m.T) / 2)
    return float(((m1 - m2) ** 2).sum() + s1.trace() + s2.trace() - 2 * ev.clamp(min=0).sqrt().sum())


def pr_torch(real, fake, k, block=1024):
    import torch
    r = torch.from_numpy(real).float()
    f = torch.from_numpy(fake).float()

    def radii(x):
        out = []
        for i in range(0, len(x), block):
            d = torch.cdist(x[i:i + block], x)
            out.append(d.kthvalue(k + 1, dim=1).values)  # k+1: the point itself is at distance 0
        return torch.cat(out)

    def covered(x, y, ry):  # share of x inside some ball of y
        hit = []
        for i in range(0, len(x), block):
            d = torch.cdist(x[i:i + block], y)
            hit.append((d <= ry[None, :]).any(1))
        return float(torch.cat(hit).float().mean())

    rr, rf = radii(r), radii(f)
    return covered(f, r, rr), covered(r, f, rf)


def main():
    cmd = sys.argv[1]
    if cmd == "gen":
        d = sys.argv[2]
        os.makedirs(d, exist_ok=True)
        rng = np.random.default_rng(0)
        np.save(os.path.join(d, "feat_a.npy"), rng.standard_normal((10000, 2048), dtype=np.float32))
        np.save(os.path.join(d, "feat_b.npy"), (rng.standard_normal((10000, 2048), dtype=np.float32) * 1.1 + 0.05).astype(np.float32))
        np.save(os.path.join(d, "pts_a.npy"), rng.standard_normal((2000, 2)).astype(np.float32))
        np.save(os.path.join(d, "pts_b.npy"), (rng.standard_normal((2000, 2)) @ np.array([[1.4, 0.5], [0.0, 1.2]])).astype(np.float32))
        return
    t0 = time.perf_counter()
    if cmd in ("fd", "fd_torch"):
        a, b = np.load(sys.argv[2]), np.load(sys.argv[3])
        v = fd_numpy(a, b) if cmd == "fd" else fd_torch(a, b)
        out = {"fd": v}
    elif cmd == "fd_boot":
        v, sd = fd_boot(np.load(sys.argv[2]), np.load(sys.argv[3]), int(sys.argv[4]))
        out = {"fd": v, "fd_lo": v - 1.96 * sd, "fd_hi": v + 1.96 * sd}
    elif cmd == "pr":
        p, r = pr_torch(np.load(sys.argv[2]), np.load(sys.argv[3]), int(sys.argv[4]))
        out = {"precision": p, "recall": r}
    elif cmd == "w2":
        try:
            import ot  # POT
        except ImportError:
            print(json.dumps({"w2": None, "note": "no Python exact-OT reference on this machine (POT not installed)"}))
            return
        a, b = np.load(sys.argv[2]).astype(np.float64), np.load(sys.argv[3]).astype(np.float64)
        m = ot.dist(a, b)
        out = {"w2": float(np.sqrt(ot.emd2(np.full(len(a), 1 / len(a)), np.full(len(b), 1 / len(b)), m)))}
    else:
        sys.exit(__doc__)
    out["seconds"] = time.perf_counter() - t0
    print(json.dumps(out))


if __name__ == "__main__":
    main()
