"""PyTorch counterpart of mmhost's charge-density encoder training step.

The same 3D ResNeXt as plugins/charge/src/model.rs (after Hara et al., as the
MultiMat reference uses it): 7^3 stride-2 stem without bias, batch norm, ReLU, a
2^3 stride-2 max-pool, bottleneck blocks (1^3 reduce, grouped 3^3 with the stage's
stride, 1^3 expand, batch norm after each, projected shortcut where the shape
changes), global average pooling, Linear to the embedding. Reads the batch
mmhost's bench wrote (density.npy [batch, 1, 32, 32, 32], grad.npy, config.json in
DIR), times forward + backward of sum(Z * dL/dZ) + AdamW and prints one JSON line:
seconds (per step) and peak_mb.

Usage: python3 benches/torch/charge.py DIR [--threads 2] [--steps 3]
"""
import json

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from common import step_arguments, time_training_steps


def conv(c_in, c_out, k, stride=1, groups=1):
    return nn.Conv3d(c_in, c_out, k, stride=stride, padding=k // 2, groups=groups, bias=False)


class Bottleneck(nn.Module):
    def __init__(self, c_in, planes, cardinality, expansion, stride):
        super().__init__()
        mid = max(cardinality * planes // 32, cardinality)
        out = planes * expansion
        self.reduce, self.reduce_norm = conv(c_in, mid, 1), nn.BatchNorm3d(mid)
        self.grouped, self.grouped_norm = conv(mid, mid, 3, stride, cardinality), nn.BatchNorm3d(mid)
        self.expand, self.expand_norm = conv(mid, out, 1), nn.BatchNorm3d(out)
        self.shortcut = None
        if stride != 1 or c_in != out:
            self.shortcut = nn.Sequential(conv(c_in, out, 1, stride), nn.BatchNorm3d(out))

    def forward(self, x):
        y = F.relu(self.reduce_norm(self.reduce(x)))
        y = F.relu(self.grouped_norm(self.grouped(y)))
        y = self.expand_norm(self.expand(y))
        return F.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class ChargeResNeXt(nn.Module):
    def __init__(self, c):
        super().__init__()
        k = c["stem_kernel"]
        self.stem = nn.Conv3d(1, c["stem_channels"], k, stride=2, padding=k // 2, bias=False)
        self.stem_norm = nn.BatchNorm3d(c["stem_channels"])
        blocks, channels = [], c["stem_channels"]
        for stage, (count, planes) in enumerate(zip(c["layers"], c["planes"])):
            for b in range(count):
                stride = 2 if stage > 0 and b == 0 else 1
                blocks.append(Bottleneck(channels, planes, c["cardinality"], c["expansion"], stride))
                channels = planes * c["expansion"]
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(channels, c["embed_dim"])

    def forward(self, density):
        x = F.max_pool3d(F.relu(self.stem_norm(self.stem(density))), 2)
        x = self.blocks(x)
        return self.head(x.mean(dim=(2, 3, 4)))


def main():
    args, d = step_arguments(__doc__, steps=3)
    density = torch.from_numpy(np.load(d / "density.npy"))
    grad = torch.from_numpy(np.load(d / "grad.npy"))
    model = ChargeResNeXt(json.loads((d / "config.json").read_text()))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
    time_training_steps(model, optimizer, density, grad, args.steps,
                        parameters=sum(p.numel() for p in model.parameters()))


if __name__ == "__main__":
    main()
