#!/usr/bin/python3
"""PyTorch peer of `npm run bench`, workload W1, on the workload folder the bench writes
(src/bench/workload.ts: workload.json, the space and path files it names, the training and scoring
images and labels, the greedy rounds' paths). The engine's side (src/bench/ours-w1.ts) reads the
same folder, so both train on the same images and score the same paths on the same images.

The same network as the engine (scripts/torch_supernet.py builds it from the same space JSON with
the semantics of docs/parameters.md), the whole supernet in memory (every op of every layer), float32,
channels-last, batch 128, SGD momentum 0.9 nesterov, weight decay 4e-5 on conv/fc weights (none on BN
and biases), label smoothing 0.1. Images are uint8 NHWC in memory and are normalised inside the
timed step, as the engine does natively. Measures:
  train   training step images/s (forward + backward + SGD step) cycling the workload's 4 batches
          of 128, median of timed runs after warm-up
  eval    forward-only images/s (no_grad, train-mode BN from the batch, running stats untouched:
          GreedyNAS scoring), same batches
  round   the workload's greedy rounds: each path of a round scored, one by one, on the same 1,000
          scoring images, forward only. First a chunk probe: round 0's first path over the 1,000
          images in chunks of 250, 500 and 1,000 images (BN statistics per chunk), warm-up then
          timed; the rounds then run at the fastest chunk: round 0 as warm-up ("cold": oneDNN
          creates primitives for new shapes), rounds 1.. timed, median
  memory  peak RSS from VmHWM (/proc/self/status) after a reset at start ("5" to
          /proc/self/clear_refs): ru_maxrss is carried across fork/exec from the parent (the Node
          bench), VmHWM is this process' own; after the training phase and at the end
Prints one JSON object on stdout (progress on stderr).

  /usr/bin/python3 bench/peers/torch_w1.py --workload DIR --threads 2 [--quick]
  (DIR from `npm run bench -- --workload DIR`, which keeps it)

Exit codes: 0 ok, 2 bad arguments, 3 PyTorch missing.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def status_mb(field: str) -> float:
    """A kB field of /proc/self/status in MiB: VmRSS (now) or VmHWM (peak of this address space)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def rss_mb() -> float:
    return status_mb("VmRSS")


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


def hwm_mb() -> float:
    """Peak RSS of this process' address space (VmHWM): unlike ru_maxrss, not inherited across exec."""
    return status_mb("VmHWM")


def reset_hwm() -> bool:
    """Resets VmHWM to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


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
    hwm_at_start = hwm_mb()
    hwm_reset = reset_hwm()
    ap = argparse.ArgumentParser(description="PyTorch peer of the W1 benchmark (one JSON object on stdout)")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads (torch.set_num_threads and OMP_NUM_THREADS)")
    ap.add_argument("--quick", action="store_true", help="fast smoke run (few, short timed runs)")
    ap.add_argument("--workload", required=True, help="workload folder written by the bench (workload.json and the image files)")
    ap.add_argument("--seed", type=int, default=0, help="weight initialisation seed")
    ap.add_argument(
        "--omp-wait-policy",
        choices=["default", "passive", "active"],
        default="default",
        help="OMP_WAIT_POLICY for torch's OpenMP threads (default: leave torch's/the environment's). On a "
        "machine whose cores are busy with other work, libgomp's spinning barriers can cost several times "
        "the compute with --threads > 1; 'passive' makes idle threads sleep",
    )
    args = ap.parse_args()
    if args.threads < 1:
        ap.error("--threads must be >= 1")
    try:
        with open(os.path.join(args.workload, "workload.json")) as f:
            wl = json.load(f)
    except (OSError, ValueError) as e:
        ap.error(f"--workload: cannot read {args.workload}/workload.json ({e})")

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

    with open(wl["space"]) as f:
        space_raw = json.load(f)
    arch = [int(v) for v in wl["arch"]]
    sp = ts.resolve_space(space_raw)
    torch.manual_seed(args.seed)
    net = ts.SuperNet(sp)
    net.check_arch(arch)
    ts.init_default(net, args.seed)
    net = net.to(memory_format=torch.channels_last)
    params_supernet = sum(p.numel() for p in net.parameters())
    params_path = sum(t.numel() for _, t, kind, _ in net.path_named_tensors(arch) if kind == "param")
    opt = torch.optim.SGD(ts.decay_groups(net, 4e-5), lr=0.05, momentum=0.9, nesterov=True)

    def read(name: str, dtype):
        with open(os.path.join(args.workload, name), "rb") as f:
            return torch.frombuffer(bytearray(f.read()), dtype=dtype)

    B, nbatches = wl["train"]["batch"], wl["train"]["batches"]
    H, W, C = wl["image"]["height"], wl["image"]["width"], wl["image"]["channels"]
    assert (H, W, C) == (sp.in_h, sp.in_w, sp.in_c), "workload image shape differs from the space's input"
    ti = read(wl["train"]["images"], torch.uint8).view(nbatches, B, H, W, C)
    tl = read(wl["train"]["labels"], torch.int32).to(torch.int64).view(nbatches, B)
    train_images = [ti[i].contiguous() for i in range(nbatches)]
    train_labels = [tl[i].contiguous() for i in range(nbatches)]

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
    hwm_after_train = hwm_mb()
    train_wall = time.perf_counter() - t_start

    # (b) forward-only scoring throughput, train-mode BN from the batch, running stats untouched
    def eval_step(i: int) -> None:
        # as the engine's evaluate(): logits, then cross-entropy and the argmax count
        with torch.no_grad(), ts.batch_stats_only(net):
            logits = forward(train_images[i % nbatches], arch)
            float(F.cross_entropy(logits, train_labels[i % nbatches]))
            int((logits.argmax(1) == train_labels[i % nbatches]).sum())

    eval_rates = timed(eval_step, "eval")

    # (c) GreedyNAS rounds: the workload's paths, each scored one by one on the same scoring images
    n_score = wl["score"]["count"]
    score_images = read(wl["score"]["images"], torch.uint8).view(n_score, H, W, C)
    score_labels = read(wl["score"]["labels"], torch.int32).to(torch.int64)
    rounds_paths = wl["rounds"]["paths"]
    if len(rounds_paths) < 2:
        raise SystemExit("torch_w1.py: the workload needs at least 2 rounds (round 0 is the warm-up)")

    def score_path(p, c: int) -> tuple:
        loss_sum, correct = 0.0, 0
        for lo in range(0, n_score, c):
            x, y = score_images[lo : lo + c], score_labels[lo : lo + c]
            logits = forward(x, p)
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
        return loss_sum / n_score, correct / n_score

    def greedy_round(paths, c: int) -> tuple:
        t0 = time.perf_counter()
        with torch.no_grad(), ts.batch_stats_only(net):
            scores = [score_path(p, c) for p in paths]
        return time.perf_counter() - t0, scores

    probe = {}
    for c in wl["chunks"]:
        greedy_round(rounds_paths[0][:1], c)  # warm-up at this shape
        probe[str(c)], _ = greedy_round(rounds_paths[0][:1], c)
    best = int(min(probe, key=lambda k: probe[k]))
    log(f"chunk probe (s per path over {n_score} images): {probe}; best {best}")
    cold_round, _ = greedy_round(rounds_paths[0], best)
    log(f"round 0 (cold, chunk {best}): {cold_round:.3f} s")
    round_times = []
    scores = []
    for r, paths in enumerate(rounds_paths[1:], 1):
        dt, scores = greedy_round(paths, best)
        round_times.append(dt)
        log(f"round {r} (chunk {best}): {dt:.3f} s")
    hwm_end = hwm_mb()

    result = {
        "peer": "pytorch",
        "torch": torch.__version__,
        "python": sys.executable,
        "threads": args.threads,
        "torch_threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset (libgomp default)"),
        "quick": q,
        "batch": B,
        "dtype": "float32",
        "memory_format": "channels_last",
        "space": wl["space"],
        "workload": args.workload,
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
            "chunk": best,
            "chunk_probe_seconds": {k: round(v, 4) for k, v in probe.items()},
            "paths": wl["rounds"]["m"],
            "timed_rounds": len(round_times),
            "images": n_score,
            "mean_loss": sum(l for l, _ in scores) / max(1, len(scores)),
            "scoring": "per path: forwards of the images in chunks of `chunk` (BN statistics per chunk), cross-entropy and top-1",
        },
        "memory_mb": {
            "rss_before_import_torch": round(rss_before_import, 1),
            "rss_after_import_torch": round(rss_after_import, 1),
            "maxrss_after_import_torch_inherited": round(maxrss_after_import, 1),
            "vmhwm_at_start": round(hwm_at_start, 1),
            "vmhwm_reset": hwm_reset,
            "peak_after_training": round(hwm_after_train, 1),
            "peak_end": round(hwm_end, 1),
            "maxrss_after_training_inherited": round(maxrss_after_train, 1),
            "note": "peak_* are VmHWM of this process (reset at start); ru_maxrss (maxrss_*) carries the parent's peak across fork/exec",
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
