#!/usr/bin/env python3
"""Baseline for benches/text.sh: sentence-transformers (PyTorch, one thread) embedding
the same 70 TextEdge descriptions one at a time. Prints descriptions/s."""
import csv
import os
import sys
import time

import torch
from sentence_transformers import SentenceTransformer

torch.set_num_threads(1)
data, model_dir = sys.argv[1], sys.argv[2]
texts = []
for name in ["textedge_prop_mp22_train.csv", "textedge_prop_mp22_valid.csv", "textedge_prop_mp22_test.csv"]:
    with open(os.path.join(data, "samples/text", name), newline="") as f:
        texts += [r["description"] for r in csv.DictReader(f)]
model = SentenceTransformer(model_dir, device="cpu")
model.encode(texts[:1])
start = time.perf_counter()
for t in texts:
    model.encode([t])
seconds = time.perf_counter() - start
print(f"sentence-transformers: {len(texts)} descriptions in {seconds:.2f} s = {len(texts) / seconds:.1f} descriptions/s")
