#!/usr/bin/python3
"""Python/PyTorch twin of the studio's full re-sample on release (issue 6):
2,000 points x 32 EDM Heun steps with SIMS guidance on every step, the shipped
grid25 base and auxiliary checkpoints (EMA weights read from the weights-only
checkpoint files), float64 update arithmetic and float32 networks as `sims` does.

usage: studio_sample.py BASE.ckpt AUX.ckpt THREADS [REPEATS=5] [N=2000] [STEPS=32] [OMEGA=1]
Prints one JSON line: {"median_ms": ..., "runs_ms": [...], "nfe": ...}.
"""
import json
import math
import statistics
import struct
import sys
import time

import torch

from edm_heun import heun, time_steps


def read_ema(path):
    """The EMA tensors of a weights-only checkpoint (the safetensors layout:
    8-byte little-endian header length, a JSON header, raw little-endian data)."""
    dtypes = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if not name.startswith("ema/"):
            continue
        a, b = e["data_offsets"]
        t = torch.frombuffer(bytearray(data[a:b]), dtype=dtypes[e["dtype"]]).reshape(e["shape"])
        out[name[len("ema/"):]] = t.clone()
    return out


class EdmMlp(torch.nn.Module):
    """The EdmMlp of core/diffusion/network.hpp: input [c_in x, c_noise,
    sin(c_noise f), cos(c_noise f)], SiLU hidden layers, EDM preconditioning."""

    def __init__(self, ckpt, sigma_data=0.5):
        super().__init__()
        params = read_ema(ckpt)
        self.freqs = params.pop("freqs")
        idx = sorted({int(n.split(".")[1]) for n in params})
        self.layers = torch.nn.ModuleList()
        for i in idx:
            w, b = params[f"net.{i}.weight"], params[f"net.{i}.bias"]
            lin = torch.nn.Linear(w.shape[1], w.shape[0])
            lin.weight.data.copy_(w)
            lin.bias.data.copy_(b)
            self.layers.append(lin)
        self.sd = sigma_data

    def forward(self, x, sigma):  # x [n, D] float32, sigma: float
        sd = self.sd
        c_skip = sd * sd / (sigma * sigma + sd * sd)
        c_out = sigma * sd / math.sqrt(sigma * sigma + sd * sd)
        c_in = 1.0 / math.sqrt(sigma * sigma + sd * sd)
        c_noise = math.log(sigma) / 4.0
        n = x.shape[0]
        a = c_noise * self.freqs
        emb = torch.cat([torch.tensor([c_noise]), a.sin(), a.cos()]).expand(n, -1)
        h = torch.cat([x * c_in, emb], 1)
        for lin in self.layers[:-1]:
            h = torch.nn.functional.silu(lin(h))
        return c_skip * x + c_out * self.layers[-1](h)


def sample(base, aux, noise, steps, omega):
    t = time_steps(steps)
    nfe = 0

    def den(x, s):
        nonlocal nfe
        xf = x.float()
        db = base(xf, s).double()
        da = aux(xf, s).double()
        nfe += 2
        return db * (1 + omega) - da * omega

    x = heun(den, noise, t)
    return x, nfe


def main():
    base_p, aux_p, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    reps = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    n = int(sys.argv[5]) if len(sys.argv) > 5 else 2000
    steps = int(sys.argv[6]) if len(sys.argv) > 6 else 32
    omega = float(sys.argv[7]) if len(sys.argv) > 7 else 1.0
    torch.set_num_threads(threads)
    base, aux = EdmMlp(base_p).eval(), EdmMlp(aux_p).eval()
    runs = []
    nfe = 0
    with torch.inference_mode():
        for r in range(reps + 1):  # the first run warms up
            noise = torch.randn(n, 2, generator=torch.Generator().manual_seed(r), dtype=torch.float64)
            t0 = time.perf_counter()
            x, nfe = sample(base, aux, noise, steps, omega)
            if r > 0:
                runs.append((time.perf_counter() - t0) * 1000)
            assert torch.isfinite(x).all()
    print(json.dumps({"median_ms": statistics.median(runs), "runs_ms": runs, "nfe": nfe, "threads": threads}))


if __name__ == "__main__":
    main()
