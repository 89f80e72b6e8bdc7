"""Helpers shared by the PyTorch counterparts of mmhost's benchmarks."""


def reset_peak_memory():
    """Resets the process's peak resident memory (Linux /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_memory_mb():
    """Peak resident memory since the last reset, MB (VmHWM)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def step_arguments(description, steps):
    """Parses DIR, --threads and --steps (default `steps`), sets torch's threads
    and seed, and returns the arguments and DIR as a Path."""
    import argparse
    from pathlib import Path

    import torch

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("dir")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=steps)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    return args, Path(args.dir)


def time_training_steps(model, optimizer, inputs, grad, steps, **extra):
    """Times `steps` training steps (forward, backward of sum(Z * grad), optimizer
    step) after one warm-up step, and prints the JSON line the Rust benchmark reads:
    seconds per step and peak_mb over the timed steps, with `extra` fields."""
    import json
    import time

    import torch

    def step():
        optimizer.zero_grad(set_to_none=True)
        (model(inputs) * grad).sum().backward()
        optimizer.step()

    step()
    reset_peak_memory()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = (time.perf_counter() - started) / steps
    print(json.dumps({"seconds": seconds, "peak_mb": peak_memory_mb(), "torch": torch.__version__,
                      "threads": torch.get_num_threads(), **extra}))
