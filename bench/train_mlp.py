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

import torch
from torch import nn

import edm_train_loop


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
    seen, secs, _ = edm_train_loop.train(net, ema, data, batch, images)
    print(json.dumps({"images_per_second": seen / secs, "seconds": secs}))


if __name__ == "__main__":
    main()
