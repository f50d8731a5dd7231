#!/usr/bin/env python3
"""PyTorch eager peer of gnas_net_bench (native/bench/net/net_bench.cpp) on the same GPU.

The same network as the engine (scripts/torch_supernet.py builds the whole supernet, every op of
every layer, from the same space JSON with the semantics of docs/parameters.md), trained one path at
a time: SGD momentum 0.9 nesterov, weight decay 4e-5 on conv/fc weights (none on BN and biases),
label smoothing 0.1, lr 0.05; parameters off the path get no gradient and so no update. Images are
synthetic, seeded uint8 NHWC, held on the device (--inputs device, default) or in host memory and
copied in every step (--inputs host, as the engine's C++ benchmark does), and normalised inside the
timed step. Measures, with the definitions of gnas_net_bench:
  train   training step images/s (forward + backward + SGD step), median of --iters timed
          iterations after --warmup untimed ones; 2 batches alternate
  eval    forward-only images/s on one path (no_grad, train-mode BN from the batch, running stats
          untouched: GreedyNAS scoring), with cross-entropy and the top-1 count
  round   a GreedyNAS round: --paths random paths (seeded) scored one by one on one batch of
          --score-images images (default --batch); seconds, median of --rounds rounds. A cold round
          comes first (reported apart: cuDNN autotuning of new shapes), then one forward per op index
          so that every (layer, op) shape has been seen, then the timed rounds
Every timer stops after torch.cuda.synchronize() (a no-op on CPU).

Arithmetic: FP32 by default with TF32 OFF in matmul and cuDNN convolutions
(torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False, or on torch >= 2.9
their successors torch.backends.cuda.matmul.fp32_precision = torch.backends.cudnn.conv.fp32_precision
= "ieee"); --tf32 allows TF32 in both; --amp is PyTorch's usual
mixed precision on CUDA: autocast to float16 with a GradScaler (CUDA only; what autocast keeps in
float32 follows TF32 off/on as above). torch.backends.cudnn.benchmark = True.
Memory format channels-last (--no-channels-last: NCHW).

Prints one JSON object on one line on stdout (progress on stderr), keys as gnas_net_bench's:
  {"bench":"net","peer":"pytorch","space":...,"backend":...,"math":...,"batch":...,
   "train_img_s":...,"eval_img_s":...,"round_s":..., ...}

  python3 bench/peers/torch_gpu.py --space spaces/greedynas-imagenet.json \
      --path bench/net/greedynas-imagenet.arch [--amp | --tf32] [--batch 128] [--device cuda:0]
  /usr/bin/python3 bench/peers/torch_gpu.py --device cpu --batch 16 --iters 2   (smoke test)

Works with torch 1.13 and 2.x. Exit codes: 0 ok, 1 failure (or a non-finite loss), 2 bad
arguments, 3 PyTorch missing, 4 the device is not available.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def log(msg: str) -> None:
    print(f"[torch_gpu] {msg}", file=sys.stderr, flush=True)


def load_arch(path: str) -> list:
    """An arch file as gnas_net_bench reads it (native/supernet/space_desc_text.h): a JSON object
    with "arch": [...], a JSON array, or integers separated by whitespace and/or commas."""
    with open(path, "r", encoding="utf-8") as f:
        text = f.read()
    try:
        v = json.loads(text)
    except ValueError:
        v = None
    if isinstance(v, dict):
        v = v.get("arch")
    if isinstance(v, list):
        return [int(x) for x in v]
    if v is not None and not isinstance(v, (int, float)):
        raise ValueError(f"{path}: JSON without an \"arch\" array")
    lines = [ln.split("#", 1)[0] for ln in text.splitlines()]
    toks = [t for t in re.split(r"[\s,]+", " ".join(lines)) if t]
    if not toks:
        raise ValueError(f"{path}: no arch found")
    return [int(t) for t in toks]


def set_tf32(torch, on: bool) -> str:
    """TF32 in matmul and cuDNN convolutions on or off. torch >= 2.9 has per-backend
    fp32_precision settings ("tf32" | "ieee") and warns about (later: rejects mixing with) the old
    allow_tf32 flags; older versions only have the flags. Returns what was set, for the report."""
    matmul = torch.backends.cuda.matmul
    conv = getattr(torch.backends.cudnn, "conv", None)

    def has(obj, name: str) -> bool:  # torch's cuBLAS module raises AssertionError on unknown names
        try:
            getattr(obj, name)
            return True
        except (AttributeError, AssertionError):
            return False

    if conv is not None and has(matmul, "fp32_precision") and has(conv, "fp32_precision"):
        mode = "tf32" if on else "ieee"
        matmul.fp32_precision = mode
        conv.fp32_precision = mode
        return f"torch.backends.cuda.matmul.fp32_precision = torch.backends.cudnn.conv.fp32_precision = {mode!r}"
    matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on
    return f"torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = {on}"


def main() -> int:
    ap = argparse.ArgumentParser(description="PyTorch eager peer of gnas_net_bench (one JSON line on stdout)")
    ap.add_argument("--space", default=os.path.join(ROOT, "bench", "w1.space.json"), help="space JSON (as the engine reads it)")
    ap.add_argument("--path", default=os.path.join(ROOT, "bench", "w1.path.json"), help="arch: JSON {\"arch\": [...]} or an .arch file")
    ap.add_argument("--device", default="cuda:0", help="cuda:N or cpu")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--paths", type=int, default=10, help="paths per GreedyNAS round")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds (after one cold round)")
    ap.add_argument("--score-images", type=int, default=0, help="images the round scores on (default: --batch)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--amp", action="store_true", help="mixed precision: float16 autocast + GradScaler (CUDA only)")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 in matmul and cuDNN (off by default)")
    ap.add_argument("--channels-last", dest="channels_last", action="store_true", default=True, help="(default)")
    ap.add_argument("--no-channels-last", dest="channels_last", action="store_false", help="NCHW memory format")
    ap.add_argument("--inputs", choices=["device", "host"], default="device", help="where the uint8 images live")
    ap.add_argument("--threads", type=int, default=0, help="CPU intra-op threads (0: torch's default)")
    args = ap.parse_args()
    if min(args.batch, args.iters, args.paths) < 1 or args.warmup < 0 or args.rounds < 0 or args.score_images < 0:
        ap.error("--batch, --iters, --paths must be >= 1; --warmup, --rounds, --score-images >= 0")
    if not args.score_images:
        args.score_images = args.batch

    try:
        import torch
        import torch.nn.functional as F
    except ImportError as e:
        print(f"torch_gpu.py: PyTorch is not importable by {sys.executable} ({e})", file=sys.stderr)
        return 3
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import torch_supernet as ts

    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    if cuda and not torch.cuda.is_available():
        print(f"torch_gpu.py: {args.device} requested but torch.cuda.is_available() is False (torch {torch.__version__})", file=sys.stderr)
        return 4
    if args.amp and not cuda:
        # CPU autocast is bfloat16 only, and older torch lacks bfloat16 backward kernels (relu6)
        print("torch_gpu.py: --amp needs a CUDA device (float16 autocast + GradScaler)", file=sys.stderr)
        return 2
    if cuda:
        torch.cuda.set_device(dev)
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    # ---- arithmetic ----
    torch.backends.cudnn.benchmark = True
    tf32_api = set_tf32(torch, bool(args.tf32))
    amp_dtype = torch.float16 if args.amp else None
    use_scaler = args.amp
    if args.amp:
        math_name = "amp-fp16-tf32" if args.tf32 else "amp-fp16"
    else:
        math_name = "tf32" if args.tf32 else "fp32"

    def autocast():
        if amp_dtype is None:
            return _Null()
        return torch.autocast(device_type=dev.type, dtype=amp_dtype)

    if use_scaler:
        if hasattr(torch, "amp") and hasattr(torch.amp, "GradScaler"):
            try:
                scaler = torch.amp.GradScaler("cuda")
            except TypeError:  # an older signature
                scaler = torch.cuda.amp.GradScaler()
        else:
            scaler = torch.cuda.amp.GradScaler()
    else:
        scaler = None

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(dev)

    # ---- network ----
    with open(args.space, "r", encoding="utf-8") as f:
        space_raw = json.load(f)
    arch = load_arch(args.path)
    sp = ts.resolve_space(space_raw)
    t_build = time.perf_counter()
    torch.manual_seed(args.seed)
    net = ts.SuperNet(sp)
    net.check_arch(arch)
    ts.init_default(net, args.seed)
    net = net.to(dev)
    if args.channels_last:
        net = net.to(memory_format=torch.channels_last)
    else:
        # SuperNet.normalize returns an NCHW view of the NHWC images (channels-last strides); make
        # it really NCHW so that every conv runs in NCHW.
        _norm = net.normalize
        net.normalize = lambda images: _norm(images).contiguous()
    opt = torch.optim.SGD(ts.decay_groups(net, 4e-5), lr=args.lr, momentum=0.9, nesterov=True)
    sync()
    build_s = time.perf_counter() - t_build
    params_supernet = sum(p.numel() for p in net.parameters())
    params_path = sum(t.numel() for _, t, kind, _ in net.path_named_tensors(arch) if kind == "param")

    # ---- data (seeded, uint8 NHWC) ----
    g = torch.Generator().manual_seed(args.seed)
    B, H, W, C = args.batch, sp.in_h, sp.in_w, sp.in_c
    place = dev if args.inputs == "device" else torch.device("cpu")
    images = [torch.randint(0, 256, (B, H, W, C), generator=g, dtype=torch.uint8).to(place) for _ in range(2)]
    labels = [torch.randint(0, sp.classes, (B,), generator=g).to(place) for _ in range(2)]
    if args.score_images == B:
        score_images, score_labels = images[0], labels[0]
    else:
        score_images = torch.randint(0, 256, (args.score_images, H, W, C), generator=g, dtype=torch.uint8).to(place)
        score_labels = torch.randint(0, sp.classes, (args.score_images,), generator=g).to(place)

    def on_device(x):
        return x if x.device == dev else x.to(dev)

    # ---- train ----
    losses = []

    def train_step(i: int) -> None:
        x, y = on_device(images[i % 2]), on_device(labels[i % 2])
        opt.zero_grad(set_to_none=True)
        with autocast():
            logits = net(x, arch)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=0.1)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        losses.append(loss.detach())

    net.train()
    if cuda:
        torch.cuda.reset_peak_memory_stats(dev)
    t0 = time.perf_counter()
    train_step(0)
    sync()
    cold_train_s = time.perf_counter() - t0
    for i in range(1, args.warmup):
        train_step(i)
    sync()
    train_ms = []
    for i in range(args.iters):
        t0 = time.perf_counter()
        train_step(args.warmup + i)
        sync()
        train_ms.append(1e3 * (time.perf_counter() - t0))
    loss_values = [float(v) for v in losses]
    finite = all(math.isfinite(v) for v in loss_values)
    peak_train_mb = torch.cuda.max_memory_allocated(dev) / 2**20 if cuda else None
    train_img_s = B / (statistics.median(train_ms) * 1e-3)
    log(f"{math_name} train: {train_img_s:.1f} images/s (median {statistics.median(train_ms):.3f} ms)")

    # ---- eval: one path, batch statistics, running stats untouched ----
    def score(x, y, a) -> tuple:
        x, y = on_device(x), on_device(y)
        with autocast():
            logits = net(x, a).float()
        loss = F.cross_entropy(logits, y)
        correct = (logits.argmax(1) == y).sum()
        return float(loss), int(correct)  # both wait for the device, as the engine's evaluate() returns them

    eval_ms = []
    eval_loss = float("nan")
    with torch.no_grad(), ts.batch_stats_only(net):
        for i in range(max(1, args.warmup)):
            score(images[i % 2], labels[i % 2], arch)
        sync()
        for i in range(args.iters):
            t0 = time.perf_counter()
            eval_loss, _ = score(images[i % 2], labels[i % 2], arch)
            sync()
            eval_ms.append(1e3 * (time.perf_counter() - t0))
    eval_img_s = B / (statistics.median(eval_ms) * 1e-3)
    log(f"{math_name} eval: {eval_img_s:.1f} images/s (median {statistics.median(eval_ms):.3f} ms)")

    # ---- GreedyNAS round ----
    rng = random.Random(args.seed + 777)

    def random_paths() -> list:
        return [[rng.randrange(len(l.ops)) for l in sp.layers] for _ in range(args.paths)]

    def one_round(paths) -> float:
        sync()
        t0 = time.perf_counter()
        for p in paths:
            score(score_images, score_labels, p)
        sync()
        return time.perf_counter() - t0

    with torch.no_grad(), ts.batch_stats_only(net):
        cold_round_s = one_round(random_paths())
        # every (layer, op) once, so that the timed rounds meet no shape cuDNN has not tuned yet
        nmax = max(len(l.ops) for l in sp.layers) if sp.layers else 0
        one_round([[j % len(l.ops) for l in sp.layers] for j in range(nmax)])
        round_times = [one_round(random_paths()) for _ in range(args.rounds)]
    round_s = statistics.median(round_times) if round_times else cold_round_s
    log(f"{math_name} round ({args.paths} paths x {args.score_images} images): {round_s:.4f} s (cold {cold_round_s:.4f} s)")

    if cuda:
        props = torch.cuda.get_device_properties(dev)
        device_desc = f"{args.device} ({props.name})"
        peak_mb = torch.cuda.max_memory_allocated(dev) / 2**20
    else:
        device_desc = "cpu"
        peak_mb = None

    def num(x):
        return x if (x is not None and math.isfinite(x)) else None

    result = {
        "bench": "net",
        "peer": "pytorch",
        "space": sp.name,
        "backend": "torch-" + dev.type,
        "device": device_desc,
        "math": math_name,
        "batch": B,
        "image": [H, W, C],
        "train_img_s": train_img_s,
        "eval_img_s": eval_img_s,
        "round_s": round_s,
        "round_paths": args.paths,
        "round_images": args.score_images,
        "cold_round_s": cold_round_s,
        "train_ms_median": statistics.median(train_ms),
        "train_ms_minmax": [min(train_ms), max(train_ms)],
        "eval_ms_median": statistics.median(eval_ms),
        "eval_ms_minmax": [min(eval_ms), max(eval_ms)],
        "cold_train_s": cold_train_s,
        "build_s": build_s,
        "warmup": args.warmup,
        "iters": args.iters,
        "params_path": params_path,
        "params_supernet": params_supernet,
        "lr": args.lr,
        "loss_first": num(loss_values[0]),
        "loss_last": num(loss_values[-1]),
        "eval_loss": num(eval_loss),
        "finite": finite,
        "peak_mem_mb_train": None if peak_train_mb is None else round(peak_train_mb, 1),
        "peak_mem_mb": None if peak_mb is None else round(peak_mb, 1),
        "torch": torch.__version__,
        "cuda": getattr(torch.version, "cuda", None),
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "cudnn_benchmark": True,
        "allow_tf32": bool(args.tf32),
        "tf32_setting": tf32_api,
        "amp": "float16 autocast + GradScaler" if args.amp else None,
        "memory_format": "channels_last" if args.channels_last else "nchw",
        "inputs": f"uint8 NHWC in {'device' if args.inputs == 'device' else 'host'} memory, normalised in the step",
        "optimizer": "SGD lr %g momentum 0.9 nesterov, wd 4e-5 (conv/fc weights), label smoothing 0.1" % args.lr,
    }
    print(json.dumps(result, separators=(",", ":")), flush=True)
    if not finite:
        log("error: a training loss is not finite")
        return 1
    return 0


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - one line on stderr, nonzero status
        import traceback

        traceback.print_exc()
        print(f"torch_gpu.py: error: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
