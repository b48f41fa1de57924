#!/usr/bin/python3
"""PyTorch side of the decoder-only auxiliary benchmark (bench/bench_decoder_aux.sh):
SIMS sampling with EDM's Heun sampler (Karras et al. 2022, Alg. 1 without
churn) and D = (1+w) D_base - w D_aux at every evaluation, on two U-Nets built
like core/diffusion/unet.cpp (bench/train_unet.py's). MODE is
  base    the base alone (1 network evaluation per sampler evaluation)
  full    base and auxiliary each evaluated in full (2)
  shared  the auxiliary is a decoder-only fine-tune: its encoder equals the
          base's, which is evaluated once; then both decoders (1.5 in the
          paper's count)
Weights are random (the auxiliary's decoder differs from the base's): the
timing does not depend on them. One warm-up evaluation first. Also times one
encoder and one decoder pass over the batch (median of 5) to show their share.
Prints {"seconds": ..., "nfe": ..., "encoder_share": ...}.

usage: sample_pair_unet.py CONFIG.json N STEPS MODE THREADS
"""
import json
import statistics
import sys
import time

import torch

from edm_heun import heun, time_steps

from train_unet import EdmUnet


def main():
    cfg = json.load(open(sys.argv[1]))
    n, steps, mode, threads = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    base, aux = EdmUnet(cfg).eval(), EdmUnet(cfg).eval()
    for p in list(base.parameters()) + list(aux.parameters()):
        torch.nn.init.normal_(p, 0, 0.05)
    shared_names = ("emb0", "emb1", "conv_in", "enc")
    aux.load_state_dict({k: v for k, v in base.state_dict().items() if k.startswith(shared_names)}, strict=False)
    omega = 1.0
    t = time_steps(steps)
    shape = (n, cfg["channels"], cfg["resolution"], cfg["resolution"])
    noise = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    nfe = [0.0]

    def den(x, s):
        sig = torch.full((n,), s)
        if mode == "base":
            nfe[0] += 1
            return base(x, sig)
        if mode == "full":
            nfe[0] += 2
            db, da = base(x, sig), aux(x, sig)
        else:
            nfe[0] += 1.5
            e = base.encode(x, sig)
            db, da = base.decode(e), aux.decode(e)
        return (1 + omega) * db - omega * da

    with torch.no_grad():
        sig = torch.full((n,), 1.0)
        enc_t, dec_t = [], []
        for _ in range(5):
            a = time.perf_counter()
            e = base.encode(noise, sig)
            b = time.perf_counter()
            base.decode(e)
            enc_t.append(b - a)
            dec_t.append(time.perf_counter() - b)
        den(noise, t[0])  # warm-up
        nfe[0] = 0
        start = time.perf_counter()
        heun(den, noise, t)
        secs = time.perf_counter() - start
    e, d = statistics.median(enc_t), statistics.median(dec_t)
    print(json.dumps({"seconds": secs, "nfe": nfe[0] / 1.0, "encoder_share": e / (e + d)}))


if __name__ == "__main__":
    main()
