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

from edm_heun import heun, time_steps

from train_unet import EdmUnet


def main():
    cfg = json.load(open(sys.argv[1]))
    n, steps, dev = int(sys.argv[2]), int(sys.argv[3]), torch.device(sys.argv[4])
    net = EdmUnet(cfg).to(dev).eval()
    t = time_steps(steps)
    shape = (n, cfg["channels"], cfg["resolution"], cfg["resolution"])
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(shape, generator=gen).to(dev)

    nfe = 0

    def den(x, s):
        nonlocal nfe
        nfe += 1
        return net(x, torch.full((n,), s, device=dev))

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    with torch.no_grad():
        den(noise, t[0])  # warm-up (kernels, allocator)
        sync()
        nfe = 0
        start = time.perf_counter()
        heun(den, noise, t)
        sync()
        secs = time.perf_counter() - start
    print(json.dumps({"images_per_second": n / secs, "seconds": secs, "nfe": nfe}))


if __name__ == "__main__":
    main()
