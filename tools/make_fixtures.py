#!/usr/bin/python3
"""Writes the TorchScript fixtures the tests and benchmarks use.

Each model follows the contract of ../shared/CLI.md: forward(x, sigma) -> D(x; sigma)
in the EDM convention, sigma of shape [N]. Weights come from fixed seeds, so the
files are the same on every run. Needs Debian's python3-torch (no downloads).

usage: make_fixtures.py OUT_DIR [--bench]
"""
import json
import math
import os
import sys

import torch
from torch import nn


class EdmMlp(nn.Module):
    """MLP denoiser for points with EDM preconditioning (sigma_data = 0.5)."""

    def __init__(self, dim: int = 2, width: int = 64, depth: int = 3):
        super().__init__()
        layers = [nn.Linear(dim + 1, width), nn.SiLU()]
        for _ in range(depth - 1):
            layers += [nn.Linear(width, width), nn.SiLU()]
        layers += [nn.Linear(width, dim)]
        self.net = nn.Sequential(*layers)
        self.sigma_data = 0.5

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        s = sigma.reshape(-1, 1).to(x.dtype)
        sd2 = self.sigma_data ** 2
        c_skip = sd2 / (s * s + sd2)
        c_out = s * self.sigma_data / torch.sqrt(s * s + sd2)
        c_in = 1.0 / torch.sqrt(s * s + sd2)
        c_noise = torch.log(s) / 4.0
        f = self.net(torch.cat([c_in * x, c_noise], dim=1))
        return c_skip * x + c_out * f


class ExactGaussian(nn.Module):
    """Closed-form denoiser of N(mean, cov): mean + cov (cov + sigma^2 I)^-1 (x - mean)."""

    def __init__(self, mean, cov):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float64))
        evals, evecs = torch.linalg.eigh(torch.tensor(cov, dtype=torch.float64))
        self.register_buffer("evals", evals)
        self.register_buffer("evecs", evecs)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        xd = x.to(torch.float64)
        s2 = sigma.to(torch.float64).reshape(-1, 1) ** 2
        y = (xd - self.mean) @ self.evecs
        y = y * (self.evals / (self.evals + s2))
        return (self.mean + y @ self.evecs.t()).to(x.dtype)


class TinyConv(nn.Module):
    """A small image denoiser [N,3,32,32] with no metadata (tests shape probing)."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 3, 3, padding=1)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3 or x.shape[2] != 32:
            raise RuntimeError("expects [N,3,32,32]")
        s = sigma.reshape(-1, 1, 1, 1).to(x.dtype)
        c_skip = 0.25 / (s * s + 0.25)
        c_out = s * 0.5 / torch.sqrt(s * s + 0.25)
        return c_skip * x + c_out * self.c2(torch.relu(self.c1(x / torch.sqrt(s * s + 0.25))))


class BadSignature(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class BadShape(nn.Module):
    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return x[:, :1]


class NanModel(nn.Module):
    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return x * float("nan")


class FeatNet(nn.Module):
    """A tiny feature network for images: [N,3,32,32] in [-1,1] -> [N,8]."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.fc = nn.Linear(4 * 16 * 16, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.c1(x)).flatten(1))


class BadFeatNet(nn.Module):
    """Returns [N,3,32] (not [N,F]): must be refused at load time."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, 0, :]


def save(module, path, meta=None):
    scripted = torch.jit.script(module.eval())
    extra = {"sims.json": json.dumps(meta)} if meta is not None else {}
    tmp = path + ".tmp"
    torch.jit.save(scripted, tmp, _extra_files=extra)
    os.replace(tmp, path)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    bench = "--bench" in sys.argv
    meta2d = {"shape": [2], "sigma_data": 0.5, "source": "tools/make_fixtures.py"}

    torch.manual_seed(1)
    save(EdmMlp(2, 64, 3), os.path.join(out, "mlp_base.pt"), meta2d)
    torch.manual_seed(2)
    save(EdmMlp(2, 64, 3), os.path.join(out, "mlp_aux.pt"), meta2d)
    # Same weights as mlp_base but a separate file (base == aux invariance).
    torch.manual_seed(1)
    save(EdmMlp(2, 64, 3), os.path.join(out, "mlp_base_copy.pt"), meta2d)
    # Metadata a denoiser cannot use: refused at load, naming the file (a shape with a negative size reached
    # torch before, and a noise level of the wrong kind gave words that named no file).
    save(EdmMlp(2, 64, 3), os.path.join(out, "mlp_meta_negative_shape.pt"), {"shape": [2, -2]})
    save(EdmMlp(2, 64, 3), os.path.join(out, "mlp_meta_text_sigma.pt"), {"shape": [2], "sigma_min": "0.002"})
    save(EdmMlp(2, 64, 3), os.path.join(out, "mlp_meta_sigma_min_only.pt"), {"shape": [2], "sigma_min": 100})
    # No metadata: the loader must probe the shape.
    torch.manual_seed(1)
    save(EdmMlp(2, 64, 3), os.path.join(out, "mlp_nometa.pt"))

    cov = [[2.0, 1.0], [1.0, 2.0]]
    save(ExactGaussian([0.0, 0.0], cov), os.path.join(out, "gauss_exact.pt"), meta2d)
    save(ExactGaussian([1.0, -1.0], [[0.5, 0.0], [0.0, 0.5]]), os.path.join(out, "gauss_narrow.pt"), meta2d)
    with open(os.path.join(out, "gauss.json"), "w") as f:
        json.dump({"kind": "gaussian", "mean": [0.0, 0.0], "cov": cov}, f)
    with open(os.path.join(out, "gauss_narrow.json"), "w") as f:
        json.dump({"kind": "gaussian", "mean": [1.0, -1.0], "cov": [[0.5, 0.0], [0.0, 0.5]]}, f)

    torch.manual_seed(3)
    save(TinyConv(), os.path.join(out, "conv_image.pt"))
    save(BadSignature(), os.path.join(out, "bad_signature.pt"))
    save(BadShape(), os.path.join(out, "bad_shape.pt"), meta2d)
    save(NanModel(), os.path.join(out, "nan_model.pt"), meta2d)
    torch.manual_seed(4)
    save(FeatNet(), os.path.join(out, "feat_net.pt"), {"name": "tinyfeat", "input_size": 32})
    save(BadFeatNet(), os.path.join(out, "bad_feat_net.pt"), {"input_size": 32})
    # Metadata of the wrong kind or out of range: refused at load, naming the file and the value.
    save(FeatNet(), os.path.join(out, "feat_net_bad_labels.pt"), {"input_size": 32, "labels": 3})
    save(FeatNet(), os.path.join(out, "feat_net_bad_range.pt"), {"input_size": 32, "input_range": [1, 1]})
    save(FeatNet(), os.path.join(out, "feat_net_list_meta.pt"), [{"input_size": 32}])
    with open(os.path.join(out, "not_a_model.pt"), "wb") as f:
        f.write(b"PK\x03\x04 this is not a real archive")

    if bench:
        # The benchmark's pair: wider MLPs as a real 2D model would use.
        torch.manual_seed(11)
        save(EdmMlp(2, 256, 4), os.path.join(out, "bench_base.pt"), meta2d)
        torch.manual_seed(12)
        save(EdmMlp(2, 256, 4), os.path.join(out, "bench_aux.pt"), meta2d)
    print("fixtures written to", out)


if __name__ == "__main__":
    main()
