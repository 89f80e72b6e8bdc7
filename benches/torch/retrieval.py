"""PyTorch counterpart of mmhost's exact top-k retrieval, for benchmarks.

Reads queries.npy [Q, D] and targets.npy [N, D] from DIR, then times what
mmhost::retrieval::top_k does: L2-normalize, cosine similarities chunk by chunk
over the targets (torch.mm), torch.topk per chunk, merged into the global top k.
Prints one JSON line: seconds (for all queries) and peak_mb (over the timed part).

Usage: python3 benches/torch/retrieval.py DIR [--threads 2] [--k 10] [--chunk 65536]
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from common import peak_memory_mb, reset_peak_memory


def top_k(queries, targets, k, chunk):
    q = F.normalize(queries, dim=1)
    best_scores = torch.full((q.shape[0], k), -float("inf"))
    best_rows = torch.zeros((q.shape[0], k), dtype=torch.long)
    for start in range(0, targets.shape[0], chunk):
        t = F.normalize(targets[start:start + chunk], dim=1)
        scores, rows = torch.topk(q @ t.T, min(k, t.shape[0]), dim=1)
        merged_scores = torch.cat([best_scores, scores], dim=1)
        merged_rows = torch.cat([best_rows, rows + start], dim=1)
        best_scores, order = torch.topk(merged_scores, k, dim=1)
        best_rows = torch.gather(merged_rows, 1, order)
    return best_scores, best_rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--chunk", type=int, default=65536)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    d = Path(args.dir)
    queries = torch.from_numpy(np.load(d / "queries.npy"))
    targets = torch.from_numpy(np.load(d / "targets.npy"))
    reset_peak_memory()
    started = time.perf_counter()
    with torch.no_grad():
        top_k(queries, targets, args.k, args.chunk)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_mb": peak_memory_mb(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
