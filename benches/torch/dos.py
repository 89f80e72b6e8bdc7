"""PyTorch counterpart of mmhost's DOS-transformer training step, for benchmarks.

The same network as plugins/dos/src/model.rs (the MultiMat DOS transformer):
energy and density each Linear(1 -> dim), concatenated and projected to dim,
pre-norm blocks of multi-head attention (scores, softmax, product, as the
reference computes them) and a GELU MLP, LayerNorm, mean pooling, Linear to the
embedding. Reads the batch mmhost's bench wrote (dos.npy [batch, 2, points],
grad.npy, config.json in DIR), times forward + backward of sum(Z * dL/dZ) + AdamW
and prints one JSON line: seconds (per step) and peak_mb.

Usage: python3 benches/torch/dos.py DIR [--threads 2] [--steps 2]
"""
import json

import numpy as np
import torch
from torch import nn

from common import step_arguments, time_training_steps


class Attention(nn.Module):
    def __init__(self, dim, heads, head_dim):
        super().__init__()
        self.heads, self.scale = heads, head_dim ** -0.5
        self.qkv = nn.Linear(dim, 3 * heads * head_dim, bias=False)
        self.out = nn.Linear(heads * head_dim, dim)

    def forward(self, x):
        b, n, _ = x.shape
        q, k, v = (t.reshape(b, n, self.heads, -1).transpose(1, 2) for t in self.qkv(x).chunk(3, dim=-1))
        attention = torch.softmax(q @ k.transpose(-1, -2) * self.scale, dim=-1)
        return self.out((attention @ v).transpose(1, 2).reshape(b, n, -1))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention_norm = nn.LayerNorm(c["dim"])
        self.attention = Attention(c["dim"], c["heads"], c["head_dim"])
        self.mlp_norm = nn.LayerNorm(c["dim"])
        self.mlp = nn.Sequential(nn.Linear(c["dim"], c["mlp_dim"]), nn.GELU(), nn.Linear(c["mlp_dim"], c["dim"]))

    def forward(self, x):
        x = x + self.attention(self.attention_norm(x))
        return x + self.mlp(self.mlp_norm(x))


class DosTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.energy_embed = nn.Linear(1, c["dim"])
        self.density_embed = nn.Linear(1, c["dim"])
        self.token_proj = nn.Linear(2 * c["dim"], c["dim"])
        self.blocks = nn.ModuleList(Block(c) for _ in range(c["depth"]))
        self.norm = nn.LayerNorm(c["dim"])
        self.head = nn.Linear(c["dim"], c["embed_dim"])

    def forward(self, dos):
        tokens = torch.cat([self.energy_embed(dos[:, 0, :, None]), self.density_embed(dos[:, 1, :, None])], dim=-1)
        x = self.token_proj(tokens)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x).mean(dim=1))


def main():
    args, d = step_arguments(__doc__, steps=2)
    dos = torch.from_numpy(np.load(d / "dos.npy"))
    grad = torch.from_numpy(np.load(d / "grad.npy"))
    model = DosTransformer(json.loads((d / "config.json").read_text()))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
    time_training_steps(model, optimizer, dos, grad, args.steps)


if __name__ == "__main__":
    main()
