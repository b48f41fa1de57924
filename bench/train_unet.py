#!/usr/bin/python3
"""The Python/PyTorch side of bench_train.sh for images: the same U-Net as
core/diffusion/unet.cpp (same blocks, channel counts, attention, dropout,
EDM preconditioning), the same EDM loss, Adam with lr ramp-up, EMA and
non-finite-gradient guard as `sims train`, same batch and thread count.
Prints {"images_per_second": ..., "params": ...}.

usage: train_unet.py CONFIG.json BATCH IMAGES THREADS
"""
import json
import math
import sys

import torch
import torch.nn.functional as F
from torch import nn

import edm_train_loop


def groups(ch):
    g = min(32, max(1, ch // 4))
    while ch % g:
        g -= 1
    return g


def conv(i, o, k, stride=1):
    return nn.Conv2d(i, o, k, stride=stride, padding=k // 2)


def zero(m):
    nn.init.zeros_(m.weight)
    nn.init.zeros_(m.bias)
    return m


class ResBlock(nn.Module):
    def __init__(self, i, o, emb, dropout):
        super().__init__()
        self.norm0, self.conv0 = nn.GroupNorm(groups(i), i, eps=1e-6), conv(i, o, 3)
        self.affine = nn.Linear(emb, o)
        self.norm1, self.conv1 = nn.GroupNorm(groups(o), o, eps=1e-6), zero(conv(o, o, 3))
        self.skip = conv(i, o, 1) if i != o else None
        self.dropout = dropout

    def forward(self, x, emb):
        h = self.conv0(F.silu(self.norm0(x))) + self.affine(emb)[:, :, None, None]
        h = F.dropout(F.silu(self.norm1(h)), self.dropout, self.training)
        h = self.conv1(h)
        return (h + (self.skip(x) if self.skip is not None else x)) * math.sqrt(0.5)


class Attn(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.norm, self.qkv, self.proj = nn.GroupNorm(groups(ch), ch, eps=1e-6), conv(ch, 3 * ch, 1), zero(conv(ch, ch, 1))

    def forward(self, x):
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, c, h * w).unbind(1)
        a = torch.bmm(q.transpose(1, 2), k).mul(1 / math.sqrt(c)).softmax(-1)
        return (x + self.proj(torch.bmm(v, a.transpose(1, 2)).reshape(n, c, h, w))) * math.sqrt(0.5)


class EdmUnet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        mc, self.sd = cfg["model_channels"], cfg.get("sigma_data", 0.5)
        emb, fr = 4 * mc, cfg.get("emb_freqs", 8)
        self.register_buffer("freqs", 2.0 ** torch.arange(fr, dtype=torch.float32) * math.pi)
        self.emb0, self.emb1 = nn.Linear(2 * fr + 1, emb), nn.Linear(emb, emb)
        self.conv_in = conv(cfg["channels"], mc, 3)
        attn_res, drop, nb, mult = cfg["attn_resolutions"], cfg["dropout"], cfg["num_blocks"], cfg["channel_mult"]
        self.enc, self.dec = nn.ModuleList(), nn.ModuleList()
        skip, ch, res = [mc], mc, cfg["resolution"]
        for lvl, m in enumerate(mult):
            for _ in range(nb):
                self.enc.append(nn.ModuleList([ResBlock(ch, mc * m, emb, drop)] + ([Attn(mc * m)] if res in attn_res else [])))
                ch = mc * m
                skip.append(ch)
            if lvl + 1 < len(mult):
                self.enc.append(conv(ch, ch, 3, 2))
                res //= 2
                skip.append(ch)
        self.mid = nn.ModuleList([nn.ModuleList([ResBlock(ch, ch, emb, drop), Attn(ch)]), nn.ModuleList([ResBlock(ch, ch, emb, drop)])])
        for lvl in reversed(range(len(mult))):
            for _ in range(nb + 1):
                sc = skip.pop()
                self.dec.append(nn.ModuleList([ResBlock(ch + sc, mc * mult[lvl], emb, drop)] + ([Attn(mc * mult[lvl])] if res in attn_res else [])))
                ch = mc * mult[lvl]
            if lvl > 0:
                self.dec.append(conv(ch, ch, 3))
                res *= 2
        self.norm_out, self.conv_out = nn.GroupNorm(groups(ch), ch, eps=1e-6), zero(conv(ch, cfg["channels"], 3))

    @staticmethod
    def _stage(st, h, emb, up):
        if isinstance(st, nn.Conv2d):
            return st(F.interpolate(h, scale_factor=2.0, mode="nearest") if up else h)
        h = st[0](h, emb)
        return st[1](h) if len(st) > 1 else h

    def encode(self, x, sigma):
        """The encoder half (embedding, input conv, down path) and what the decoder needs."""
        s, sd = sigma.reshape(-1, 1, 1, 1), self.sd
        c_skip, c_out = sd * sd / (s * s + sd * sd), s * sd / (s * s + sd * sd).sqrt()
        c_in, c_noise = 1 / (s * s + sd * sd).sqrt(), s.log() / 4
        cn = c_noise.reshape(-1, 1)
        a = cn * self.freqs[None]
        emb = F.silu(self.emb1(F.silu(self.emb0(torch.cat([cn, a.sin(), a.cos()], 1)))))
        h = self.conv_in(x * c_in)
        skips = [h]
        for st in self.enc:
            h = self._stage(st, h, emb, False)
            skips.append(h)
        return x, c_skip, c_out, emb, skips

    def decode(self, enc):
        """The decoder half: bottleneck, up path, output layers."""
        x, c_skip, c_out, emb, skips = enc
        skips = list(skips)
        h = skips[-1]
        for st in self.mid:
            h = self._stage(st, h, emb, False)
        for st in self.dec:
            if not isinstance(st, nn.Conv2d):
                h = torch.cat([h, skips.pop()], 1)
            h = self._stage(st, h, emb, True)
        return c_skip * x + c_out * self.conv_out(F.silu(self.norm_out(h)))

    def forward(self, x, sigma):
        return self.decode(self.encode(x, sigma))


def main():
    cfg_path, batch, images, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    cfg = json.load(open(cfg_path))
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    c, r = cfg["channels"], cfg["resolution"]
    data = torch.rand(1000, c, r, r) * 2 - 1
    net, ema = EdmUnet(cfg), EdmUnet(cfg)
    ema.load_state_dict(net.state_dict())
    ema.eval()
    seen, secs, _ = edm_train_loop.train(net, ema, data, batch, images, cfg.get("sigma_data", 0.5))
    params = list(net.parameters())
    print(json.dumps({"images_per_second": seen / secs, "seconds": secs,
                      "params": sum(p.numel() for p in params)}))


if __name__ == "__main__":
    main()
