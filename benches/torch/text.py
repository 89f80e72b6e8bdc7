#!/usr/bin/env python3
"""PyTorch counterpart of plugins/text/benches/text.rs: sentence-transformers
embedding the same descriptions (DIR/texts.json) one at a time with the same
model folder (--model). Prints {"seconds": per description, "peak_mb": ...}."""
import argparse
import json
import time
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer

from common import peak_memory_mb, reset_peak_memory

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("dir")
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--model", required=True)
args = parser.parse_args()
torch.set_num_threads(args.threads)
texts = json.loads((Path(args.dir) / "texts.json").read_text())
model = SentenceTransformer(args.model, device="cpu")
model.encode(texts[:1])
reset_peak_memory()
start = time.perf_counter()
for text in texts:
    model.encode([text])
seconds = (time.perf_counter() - start) / len(texts)
print(json.dumps({"seconds": seconds, "peak_mb": peak_memory_mb()}))
