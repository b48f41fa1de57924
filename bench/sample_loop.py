#!/usr/bin/python3
"""The Python/PyTorch side of bench_sample.sh: the same guided EDM Heun loop
that `sims sample` runs (float64 update arithmetic, float32 networks, SIMS on
every step), over the same TorchScript files, with the same thread count.

usage: sample_loop.py BASE AUX N STEPS OMEGA THREADS [--optimize]
Prints one JSON line: {"seconds": ..., "nfe": ...}.
"""
import json
import sys
import time

import torch


def main():
    base_p, aux_p = sys.argv[1], sys.argv[2]
    n, steps, omega, threads = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
    optimize = "--optimize" in sys.argv
    torch.set_num_threads(threads)
    base = torch.jit.load(base_p).eval()
    aux = torch.jit.load(aux_p).eval()
    if optimize:
        base = torch.jit.optimize_for_inference(torch.jit.freeze(base))
        aux = torch.jit.optimize_for_inference(torch.jit.freeze(aux))
    smin, smax, rho = 0.002, 80.0, 7.0
    i = torch.arange(steps, dtype=torch.float64)
    t = (smax ** (1 / rho) + i / (steps - 1) * (smin ** (1 / rho) - smax ** (1 / rho))) ** rho
    t = torch.cat([t, torch.zeros(1, dtype=torch.float64)])
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(n, 2, generator=gen, dtype=torch.float64)
    nfe = 0

    def denoise(x, s):
        nonlocal nfe
        xf = x.to(torch.float32)
        sig = torch.full((n,), float(s), dtype=torch.float32)
        db = base(xf, sig).to(torch.float64)
        da = aux(xf, sig).to(torch.float64)
        nfe += 2
        return (1 + omega) * db - omega * da

    with torch.inference_mode():
        # Warm-up: TorchScript's profiling executor optimises after the first calls.
        for _ in range(3):
            denoise(noise * t[0], float(t[0]))
        nfe = 0
        start = time.perf_counter()
        x = noise * t[0]
        for k in range(steps):
            t_cur, t_next = float(t[k]), float(t[k + 1])
            d = (x - denoise(x, t_cur)) / t_cur
            x_next = x + (t_next - t_cur) * d
            if k < steps - 1:
                d2 = (x_next - denoise(x_next, t_next)) / t_next
                x_next = x + (t_next - t_cur) * (0.5 * d + 0.5 * d2)
            x = x_next
        seconds = time.perf_counter() - start
    assert torch.isfinite(x).all()
    print(json.dumps({"seconds": seconds, "nfe": nfe}))


if __name__ == "__main__":
    main()
