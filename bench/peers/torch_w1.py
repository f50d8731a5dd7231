#!/usr/bin/python3
"""PyTorch peer of `npm run bench`, workload W1 (bench/w1.space.json, path bench/w1.path.json).

The same network as the engine (scripts/torch_supernet.py builds it from the same space JSON with
the semantics of docs/parameters.md), the whole supernet in memory (every op of every layer), float32,
channels-last, batch 128, SGD momentum 0.9 nesterov, weight decay 4e-5 on conv/fc weights (none on BN
and biases), label smoothing 0.1. Images are uint8 NHWC in memory (synthetic, seeded) and are
normalised inside the timed step, as the engine does natively. Measures:
  train   training step images/s (forward + backward + SGD step), median of timed runs after warm-up
  eval    forward-only images/s (no_grad, train-mode BN from the batch, running stats untouched:
          GreedyNAS scoring)
  round   a GreedyNAS round: 10 random paths of the space (seeded) each scored, one by one, on the
          same 1,000 images (one batch: BN statistics of those images), forward only; seconds
  memory  RSS right after `import torch`; peak RSS (ru_maxrss) of the process after the training phase
          (the training process' peak) and at the end
Prints one JSON object on stdout (progress on stderr).

  /usr/bin/python3 bench/peers/torch_w1.py --threads 2 [--quick]

Exit codes: 0 ok, 2 bad arguments, 3 PyTorch missing.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


def log(msg: str) -> None:
    print(f"[torch_w1] {msg}", file=sys.stderr, flush=True)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> int:
    ap = argparse.ArgumentParser(description="PyTorch peer of the W1 benchmark (one JSON object on stdout)")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads (torch.set_num_threads and OMP_NUM_THREADS)")
    ap.add_argument("--quick", action="store_true", help="fast smoke run (few, short timed runs)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--space", default=os.path.join(ROOT, "bench", "w1.space.json"))
    ap.add_argument("--path", default=os.path.join(ROOT, "bench", "w1.path.json"))
    ap.add_argument("--score-images", type=int, default=1000)
    ap.add_argument("--round-paths", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--omp-wait-policy",
        choices=["default", "passive", "active"],
        default="default",
        help="OMP_WAIT_POLICY for torch's OpenMP threads (default: leave torch's/the environment's). On a "
        "machine whose cores are busy with other work, libgomp's spinning barriers can cost several times "
        "the compute with --threads > 1; 'passive' makes idle threads sleep",
    )
    args = ap.parse_args()
    if args.threads < 1 or args.batch < 1 or args.score_images < 1 or args.round_paths < 1:
        ap.error("--threads, --batch, --score-images and --round-paths must be >= 1")

    # Thread counts must be in the environment before torch (and its OpenMP runtime) loads.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    if args.omp_wait_policy != "default":
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy.upper()
    rss_before_import = rss_mb()
    try:
        import torch
        import torch.nn.functional as F
    except ImportError as e:
        print(
            f"torch_w1.py: PyTorch is not importable by {sys.executable} ({e}).\n"
            "Install it (Debian: apt-get install -y python3-torch) and run this script with /usr/bin/python3.",
            file=sys.stderr,
        )
        return 3
    rss_after_import = rss_mb()
    maxrss_after_import = maxrss_mb()

    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import torch_supernet as ts

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass

    q = args.quick
    warmup, runs, steps = (2, 3, 2) if q else (3, 5, 6)
    rounds = 1 if q else 2

    with open(args.space) as f:
        space_raw = json.load(f)
    with open(args.path) as f:
        arch = [int(v) for v in json.load(f)["arch"]]
    sp = ts.resolve_space(space_raw)
    torch.manual_seed(args.seed)
    net = ts.SuperNet(sp)
    net.check_arch(arch)
    ts.init_default(net, args.seed)
    net = net.to(memory_format=torch.channels_last)
    params_supernet = sum(p.numel() for p in net.parameters())
    params_path = sum(t.numel() for _, t, kind, _ in net.path_named_tensors(arch) if kind == "param")
    opt = torch.optim.SGD(ts.decay_groups(net, 4e-5), lr=0.05, momentum=0.9, nesterov=True)

    g = torch.Generator().manual_seed(args.seed)
    B, H, W, C = args.batch, sp.in_h, sp.in_w, sp.in_c
    nbatches = 4
    train_images = [torch.randint(0, 256, (B, H, W, C), generator=g, dtype=torch.uint8) for _ in range(nbatches)]
    train_labels = [torch.randint(0, sp.classes, (B,), generator=g) for _ in range(nbatches)]

    def forward(images, a):
        return net(images, a)

    def train_step(i: int) -> float:
        opt.zero_grad(set_to_none=True)
        logits = forward(train_images[i % nbatches], arch)
        loss = F.cross_entropy(logits, train_labels[i % nbatches], label_smoothing=0.1)
        loss.backward()
        opt.step()
        return float(loss)

    def timed(fn, label: str):
        for i in range(warmup):
            fn(i)
        rates = []
        for r in range(runs):
            t0 = time.perf_counter()
            for i in range(steps):
                fn(i)
            dt = time.perf_counter() - t0
            rates.append(steps * B / dt)
            log(f"{label} run {r + 1}/{runs}: {rates[-1]:.1f} images/s")
        return rates

    load_start = os.getloadavg()

    # (a) training
    net.train()
    t_start = time.perf_counter()
    train_rates = timed(train_step, "train")
    losses = [train_step(i) for i in range(2)]
    maxrss_after_train = maxrss_mb()
    train_wall = time.perf_counter() - t_start

    # (b) forward-only scoring throughput, train-mode BN from the batch, running stats untouched
    def eval_step(i: int) -> None:
        # as the engine's evaluate(): logits, then cross-entropy and the argmax count
        with torch.no_grad(), ts.batch_stats_only(net):
            logits = forward(train_images[i % nbatches], arch)
            float(F.cross_entropy(logits, train_labels[i % nbatches]))
            int((logits.argmax(1) == train_labels[i % nbatches]).sum())

    eval_rates = timed(eval_step, "eval")

    # (c) GreedyNAS round: m random paths, each scored on the same score_images images, one by one
    score_images = torch.randint(0, 256, (args.score_images, H, W, C), generator=g, dtype=torch.uint8)
    score_labels = torch.randint(0, sp.classes, (args.score_images,), generator=g)
    rng = random.Random(args.seed)
    nchoices = len(sp.op_names)

    def greedy_round() -> tuple:
        paths = [[rng.randrange(nchoices) for _ in sp.layers] for _ in range(args.round_paths)]
        t0 = time.perf_counter()
        scores = []
        with torch.no_grad(), ts.batch_stats_only(net):
            for p in paths:
                logits = forward(score_images, p)
                loss = float(F.cross_entropy(logits, score_labels))
                acc = float((logits.argmax(1) == score_labels).float().mean())
                scores.append((loss, acc))
        return time.perf_counter() - t0, scores

    cold_round, _ = greedy_round()  # first round: oneDNN creates primitives for new shapes
    log(f"round (cold): {cold_round:.3f} s")
    round_times = []
    for r in range(rounds):
        dt, _ = greedy_round()
        round_times.append(dt)
        log(f"round {r + 1}/{rounds}: {dt:.3f} s")

    result = {
        "peer": "pytorch",
        "workload": "W1",
        "torch": torch.__version__,
        "python": sys.executable,
        "threads": args.threads,
        "torch_threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset (libgomp default)"),
        "quick": q,
        "batch": B,
        "dtype": "float32",
        "memory_format": "channels_last",
        "space": os.path.relpath(args.space, ROOT),
        "arch": arch,
        "params_path": params_path,
        "params_supernet": params_supernet,
        "optimizer": {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 4e-5, "no_decay": "BN and biases", "label_smoothing": 0.1},
        "train": {
            "images_per_s": statistics.median(train_rates),
            "runs": [round(r, 2) for r in train_rates],
            "warmup_steps": warmup,
            "steps_per_run": steps,
            "last_losses": losses,
        },
        "eval": {
            "images_per_s": statistics.median(eval_rates),
            "runs": [round(r, 2) for r in eval_rates],
            "bn": "batch statistics, running stats untouched",
            "includes": "forward, cross-entropy, argmax count",
        },
        "round": {
            "seconds": statistics.median(round_times),
            "runs": [round(t, 4) for t in round_times],
            "cold_seconds": round(cold_round, 4),
            "paths": args.round_paths,
            "images": args.score_images,
            "scoring": "one forward of all images per path (BN statistics of those images), cross-entropy and top-1",
        },
        "memory_mb": {
            "rss_before_import_torch": round(rss_before_import, 1),
            "rss_after_import_torch": round(rss_after_import, 1),
            "maxrss_after_import_torch": round(maxrss_after_import, 1),
            "maxrss_after_training": round(maxrss_after_train, 1),
            "maxrss_end": round(maxrss_mb(), 1),
        },
        "machine": {
            "cpu": cpu_model(),
            "nproc": os.cpu_count(),
            "loadavg_start": [round(v, 2) for v in load_start],
            "loadavg_end": [round(v, 2) for v in os.getloadavg()],
        },
        "train_phase_wall_s": round(train_wall, 2),
        "note": "synthetic uint8 data held in memory; a shared machine makes these numbers noisy: compare "
        "with the engine only from runs made side by side, and look at loadavg",
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
