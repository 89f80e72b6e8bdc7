"""PyTorch counterpart of mmhost's PotNet training step, for benchmarks.

The same network as plugins/crystal-potnet/src/model.rs (the MultiMat PotNet):
local edges as Gaussian RBFs of -0.75/d, complete-potential edges as multiquadric
RBFs of the weighted Coulomb/London/Pauli sums (Linear, softplus, batch norm),
gated convolutions with batch norm over [x_i, x_j, e_ij], mean pooling, Linear to
the embedding. It reads the batch mmhost's bench wrote (`.npy` files and
config.json in DIR), times forward + backward of sum(Z * dL/dZ) + AdamW, and
prints one JSON line: seconds_per_step and peak_mb (VmHWM over the timed steps).

Usage: python3 benches/torch/potnet.py DIR [--threads 2] [--steps 3]
"""
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from common import step_arguments, time_training_steps


def rbf_base(x, bins):
    """[E] -> [E, bins]: (x - c_k) / spacing, centres linspace(-4, 4, bins)."""
    spacing = 8.0 / (bins - 1)
    centers = torch.linspace(-4.0, 4.0, bins)
    return (x[:, None] - centers[None, :]) / spacing


class Conv(nn.Module):
    def __init__(self, h):
        super().__init__()
        self.gate = nn.Sequential(nn.Linear(3 * h, h), nn.SiLU(), nn.Linear(h, h), nn.BatchNorm1d(h))
        self.message = nn.Sequential(nn.Linear(3 * h, h), nn.SiLU(), nn.Linear(h, h))
        self.node_norm = nn.BatchNorm1d(h)

    def forward(self, x, source, target, edges):
        z = torch.cat([x[target], x[source], edges], dim=1)
        m = torch.sigmoid(self.gate(z)) * self.message(z)
        aggregated = torch.zeros_like(x).index_add_(0, target, m)
        return F.relu(x + self.node_norm(aggregated))


class PotNet(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = c["hidden_dim"]
        self.local_rbf, self.infinite_rbf = c["local_rbf"], c["infinite_rbf"]
        weights = [c["coulomb_weight"], c["london_weight"], c["pauli_weight"]]
        self.register_buffer("weights", torch.tensor(weights, dtype=torch.float32))
        self.atom_embedding = nn.Linear(92, h)
        self.local_embedding = nn.Linear(self.local_rbf, h)
        self.infinite_embedding = nn.Linear(self.infinite_rbf, h)
        self.infinite_norm = nn.BatchNorm1d(h)
        self.convs = nn.ModuleList(Conv(h) for _ in range(c["conv_layers"]))
        self.head = nn.Linear(h, c["embed_dim"])

    def forward(self, g):
        local = rbf_base(-0.75 / g["local_distance"], self.local_rbf)
        local = F.silu(self.local_embedding(torch.exp(-local * local)))
        potential = g["infinite_sums"] @ self.weights
        infinite = torch.sqrt(rbf_base(potential, self.infinite_rbf) ** 2 + 1.0)
        infinite = self.infinite_norm(F.softplus(self.infinite_embedding(infinite)))
        edges = torch.cat([local, infinite], dim=0)
        x = self.atom_embedding(g["features"])
        for conv in self.convs:
            x = conv(x, g["source"], g["target"], edges)
        pooled = torch.zeros(len(g["sizes"]), x.shape[1]).index_add_(0, g["crystal"], x)
        return self.head(pooled / g["sizes"][:, None].float())


def load(directory):
    d = Path(directory)
    arrays = {name: torch.from_numpy(np.load(d / f"{name}.npy")) for name in
              ("features", "local_edges", "local_distance", "infinite_sums", "sizes", "grad")}
    sizes = arrays["sizes"]
    offsets = torch.cumsum(sizes, 0) - sizes
    # Every ordered pair of atoms within each crystal, row-major as mmhost lays them out.
    pair_source, pair_target = [], []
    for offset, n in zip(offsets.tolist(), sizes.tolist()):
        index = torch.arange(n) + offset
        pair_source.append(index.repeat_interleave(n))
        pair_target.append(index.repeat(n))
    local = arrays["local_edges"]
    graph = {
        "features": arrays["features"],
        "source": torch.cat([local[:, 0]] + pair_source),
        "target": torch.cat([local[:, 1]] + pair_target),
        "local_distance": arrays["local_distance"],
        "infinite_sums": arrays["infinite_sums"],
        "sizes": sizes,
        "crystal": torch.repeat_interleave(torch.arange(len(sizes)), sizes),
    }
    config = json.loads((d / "config.json").read_text())
    return graph, arrays["grad"], config


def main():
    args, d = step_arguments(__doc__, steps=3)
    graph, grad, config = load(d)
    model = PotNet(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
    time_training_steps(model, optimizer, graph, grad, args.steps)


if __name__ == "__main__":
    main()
