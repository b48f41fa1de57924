#!/usr/bin/python3
"""PyTorch eager side of the U-Net sampling benchmark (tools/gpu_check.sh):
the same U-Net as core/diffusion/unet.cpp (bench/train_unet.py's), EDM's
Heun sampler (Karras et al. 2022, Alg. 1 without churn), N images, STEPS
steps, on DEVICE, in float32 with the sampler state in float32. Weights are
random: the timing does not depend on them. One warm-up step first.
Prints {"images_per_second": ..., "seconds": ..., "nfe": ...}.

usage: sample_unet.py CONFIG.json N STEPS DEVICE
"""
import json
import sys
import time

import torch

from train_unet import EdmUnet


def main():
    cfg = json.load(open(sys.argv[1]))
    n, steps, dev = int(sys.argv[2]), int(sys.argv[3]), torch.device(sys.argv[4])
    net = EdmUnet(cfg).to(dev).eval()
    smin, smax, rho = 0.002, 80.0, 7.0
    t = [(smax ** (1 / rho) + i / (steps - 1) * (smin ** (1 / rho) - smax ** (1 / rho))) ** rho for i in range(steps)]
    t.append(0.0)
    shape = (n, cfg["channels"], cfg["resolution"], cfg["resolution"])
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(shape, generator=gen).to(dev)

    def den(x, s):
        return net(x, torch.full((n,), s, device=dev))

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    with torch.no_grad():
        den(noise, t[0])  # warm-up (kernels, allocator)
        sync()
        start = time.perf_counter()
        x, nfe = noise * t[0], 0
        for i in range(steps):
            tc, tn = t[i], t[i + 1]
            d = (x - den(x, tc)) / tc
            nfe += 1
            xn = x + d * (tn - tc)
            if i < steps - 1:
                d2 = (xn - den(xn, tn)) / tn
                nfe += 1
                xn = x + (0.5 * d + 0.5 * d2) * (tn - tc)
            x = xn
        sync()
        secs = time.perf_counter() - start
    print(json.dumps({"images_per_second": n / secs, "seconds": secs, "nfe": nfe}))


if __name__ == "__main__":
    main()
