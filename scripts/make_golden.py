"""Writes the golden fixtures test/fixtures/golden/<case>.json + <case>.bin from PyTorch, an
implementation independent of the C++ engine (see scripts/torch_supernet.py for the semantics).

Run from anywhere:  /usr/bin/python3 scripts/make_golden.py [--check]
  --check  regenerate in memory and compare with the files on disk (exit 1 if they differ).

Each case is one path of a small space, with random but deterministic tensors (non-trivial BN
gammas, betas and running statistics), N = 8 uint8 NHWC images and int32 labels. The expected
results are computed in float64 from the float32 tensors stored in the fixture (so they are the
exact answer to the fixture's inputs, and the tolerances of test/golden.test.ts measure only the
engine's float32 error):
  expected/logits_batch    logits of a forward with batch-statistics BN (running stats untouched)
  expected/logits_running  logits of a forward with the running statistics (eval mode)
  expected/loss            mean softmax cross-entropy with label smoothing 0.1 of the train forward
  expected/correct         number of images whose argmax (train-mode logits) equals the label
  after/<name>             every tensor of the path after one training step: the train-mode forward
                           (updates running stats: momentum of the space, unbiased variance), the
                           backward, and plain SGD w - lr * grad (lr 0.1, no momentum, no decay)
Arrays are little-endian and concatenated in the .bin; the JSON lists name, dtype, shape, offset,
byteLength for each; `tensors` lists every tensor of the path (name, kind, shape, and for params
the largest |d loss / d param|, for messages). A seed is rejected (the next one is tried) when a
pre-activation of the train forward lies within KINK_MARGIN of a kink of its activation, or when
the top-2 logit margin of an image is below ARGMAX_MARGIN: there float32 rounding could
legitimately flip a derivative or an argmax, and the fixture would test luck, not the engine.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_supernet as ts  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "test", "fixtures", "golden")
N = 8
LR = 0.1
SMOOTHING = 0.1
KINK_MARGIN = 2e-5
ARGMAX_MARGIN = 1e-3

CASES = [
    {
        "case": "mbconv-block",
        "description": "one searchable layer whose chosen op is k5e3_se (cin 8 -> cout 8, stride 1: residual used), "
        "hswish, SE width floor(24 * 0.2) = 4, BN eps 1e-3 / momentum 0.2, custom normalisation",
        "space": {
            "name": "golden-mbconv-block",
            "input": {"height": 8, "width": 8, "channels": 3},
            "classes": 4,
            "activation": "hswish",
            "stem": {"width": 8, "stride": 1, "kernel": 3},
            "fixedBlocks": [],
            "stages": [{"width": 8, "layers": 1, "stride": 1}],
            "ops": ["k3e3", "k5e3_se", "id"],
            "head": {"width": 16},
            "bn": {"eps": 1e-3, "momentum": 0.2},
            "seRatio": 0.2,
            "normalization": {"mean": [0.45, 0.5, 0.55], "std": [0.2, 0.25, 0.3]},
        },
        "arch": [1],
        "seed": 1000,
    },
    {
        "case": "small-path",
        "description": "12x12x3 input, 4 classes, relu6, default BN and normalisation; stem k3 s1; fixed k3e1 "
        "(no expand, residual); layers: id at a reduction (1x1 conv stride 2, 8->12), k7e3 (residual, 6x6), "
        "k5e6 stride 2 (6->3, 12->16), id skip (3x3), k3e6 (16->20, stride 1, no residual)",
        "space": {
            "name": "golden-small-path",
            "input": {"height": 12, "width": 12, "channels": 3},
            "classes": 4,
            "activation": "relu6",
            "stem": {"width": 8, "stride": 1, "kernel": 3},
            "fixedBlocks": [{"kernel": 3, "expansion": 1, "width": 8, "stride": 1}],
            "stages": [
                {"width": 12, "layers": 2, "stride": 2},
                {"width": 16, "layers": 2, "stride": 2},
                {"width": 20, "layers": 1, "stride": 1},
            ],
            "ops": ["k3e3", "k3e6", "k5e3", "k5e6", "k7e3", "k7e6", "id"],
            "head": {"width": 24},
        },
        "arch": [6, 4, 3, 6, 1],
        "seed": 2000,
    },
]


def randomize(net: ts.SuperNet, g: torch.Generator) -> None:
    """Random, deterministic, non-trivial values for every tensor (float32)."""

    def u(shape, lo, hi):
        return torch.rand(shape, generator=g) * (hi - lo) + lo

    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            elif isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(u(c, 0.5, 1.5))
                m.bias.copy_(u(c, -0.4, 0.4))
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.3)
                m.running_var.copy_(u(c, 0.5, 2.0))
            elif isinstance(m, nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (1.0 / m.in_features) ** 0.5)
                m.bias.copy_(torch.randn(m.out_features, generator=g) * 0.2)


def reference(space: ts.Space, arch, state32, images, labels, dtype):
    """All expected results, computed in `dtype` from the float32 tensors `state32`."""
    net = ts.SuperNet(space, only_arch=arch).to(dtype)
    ts.load_path_state(net, arch, {k: v.to(dtype) for k, v in state32.items()})
    out = {}
    with torch.no_grad():
        with ts.batch_stats_only(net):
            out["logits_batch"] = net(images, arch)
        net.eval()
        out["logits_running"] = net(images, arch)
    net.train()
    probe: list = []
    for a in net.act_modules():
        a.probe = probe
    logits = net(images, arch)
    for a in net.act_modules():
        a.probe = None
    loss = F.cross_entropy(logits, labels.long(), label_smoothing=SMOOTHING)
    net.zero_grad(set_to_none=True)
    loss.backward()
    out["loss"] = loss.detach()
    out["train_logits"] = logits.detach()
    out["kink_margin"] = min(probe)
    top2 = logits.detach().topk(2, dim=1).values
    out["argmax_margin"] = float((top2[:, 0] - top2[:, 1]).min())
    out["correct"] = int((logits.detach().argmax(dim=1) == labels.long()).sum())
    after, grads = {}, {}
    with torch.no_grad():
        for name, t, kind, owner in net.path_named_tensors(arch):
            if kind == "param":
                grads[name] = ts.to_ours(t.grad, owner)
                after[name] = ts.to_ours(t - LR * t.grad, owner)
            else:
                after[name] = ts.to_ours(t, owner)  # running stats after the train forward
    out["after"] = after
    out["grad"] = grads
    return out


def max_abs(a: torch.Tensor) -> float:
    return float(a.abs().max()) if a.numel() else 0.0


def sig(x: float, digits: int = 6) -> float:
    """Informational numbers are rounded so that `--check` does not trip on the last bits of
    float64 arithmetic (the .bin and the expected values are compared exactly)."""
    return float(f"{x:.{digits}g}")


def build_case(spec):
    space = ts.resolve_space(spec["space"])
    arch = spec["arch"]
    for attempt in range(200):
        seed = spec["seed"] + attempt
        g = torch.Generator().manual_seed(seed)
        net = ts.SuperNet(space, only_arch=arch)
        randomize(net, g)
        state32 = ts.path_state(net, arch)
        images = torch.randint(0, 256, (N, space.in_h, space.in_w, space.in_c), generator=g, dtype=torch.uint8)
        labels = torch.randint(0, space.classes, (N,), generator=g, dtype=torch.int32)
        ref = reference(space, arch, state32, images, labels, torch.float64)
        if ref["kink_margin"] >= KINK_MARGIN and ref["argmax_margin"] >= ARGMAX_MARGIN:
            break
    else:
        raise RuntimeError(f"{spec['case']}: no seed with safe margins")
    f32 = reference(space, arch, state32, images, labels, torch.float32)

    def rel(a, b):
        return max_abs(a.double() - b.double()) / max(1.0, max_abs(b))

    info = {
        "seed": seed,
        "kinkMargin": sig(ref["kink_margin"]),
        "argmaxMargin": sig(ref["argmax_margin"]),
        # How far PyTorch's own float32 run is from the float64 reference: the scale of honest
        # float32 error, for judging the tolerances of the test.
        "torchFloat32Error": {
            "logits_batch": sig(rel(f32["logits_batch"], ref["logits_batch"]), 2),
            "logits_running": sig(rel(f32["logits_running"], ref["logits_running"]), 2),
            "loss": sig(abs(float(f32["loss"]) - float(ref["loss"])), 2),
            # relative to the largest gradient of the path (some gradients are structurally zero:
            # the beta of a BN whose output reaches the next train-mode BN only linearly)
            "grad": sig(max(max_abs(f32["grad"][k].double() - ref["grad"][k]) for k in ref["grad"])
            / max(max_abs(g) for g in ref["grad"].values()), 2),
        },
    }

    arrays = [("images", images.numpy().astype(np.uint8)), ("labels", labels.numpy().astype("<i4"))]
    tensors = []
    for name, t, kind, owner in ts.SuperNet(space, only_arch=arch).path_named_tensors(arch):
        entry = {"name": name, "kind": kind, "shape": ts.our_shape(t, owner)}
        if kind == "param":
            entry["gradMaxAbs"] = sig(max_abs(ref["grad"][name]))
        tensors.append(entry)
    for t in tensors:
        arrays.append((f"init/{t['name']}", state32[t["name"]].numpy().astype("<f4")))
    arrays.append(("expected/logits_batch", ref["logits_batch"].numpy().astype("<f4")))
    arrays.append(("expected/logits_running", ref["logits_running"].numpy().astype("<f4")))
    arrays.append(("expected/loss", np.array([float(ref["loss"])], dtype="<f4")))
    arrays.append(("expected/correct", np.array([ref["correct"]], dtype="<i4")))
    for t in tensors:
        arrays.append((f"after/{t['name']}", ref["after"][t["name"]].numpy().astype("<f4")))

    blob = bytearray()
    listing = []
    for name, a in arrays:
        while len(blob) % 8:
            blob.append(0)
        data = np.ascontiguousarray(a).tobytes()
        dtype = {"uint8": "uint8", "int32": "int32", "float32": "float32"}[a.dtype.name]
        listing.append({"name": name, "dtype": dtype, "shape": list(a.shape), "offset": len(blob), "byteLength": len(data)})
        blob += data

    meta = {
        "format": "greedynas-golden/1",
        "case": spec["case"],
        "description": spec["description"],
        "generator": "scripts/make_golden.py (PyTorch %s, expected values computed in float64)" % torch.__version__,
        "space": spec["space"],
        "arch": arch,
        "batch": N,
        "lr": LR,
        "labelSmoothing": SMOOTHING,
        "sgd": {"momentum": 0, "nesterov": False, "weightDecay": 0, "weightDecayNoDecay": 0},
        "expectedLoss": sig(float(ref["loss"]), 12),
        "expectedCorrect": ref["correct"],
        "tensors": tensors,
        "arrays": listing,
        "info": info,
    }
    return meta, bytes(blob)


def to_json(meta: dict) -> str:
    """Indented JSON with each entry of the `tensors` and `arrays` lists on one line."""
    flat = {k: v for k, v in meta.items() if k not in ("tensors", "arrays")}
    text = json.dumps(flat, indent=1)[:-2]
    for key in ("tensors", "arrays"):
        rows = ",\n  ".join(json.dumps(r) for r in meta[key])
        text += f',\n "{key}": [\n  {rows}\n ]'
    return text + "\n}\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the fixtures on disk instead of writing")
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(OUT_DIR, exist_ok=True)
    status = 0
    for spec in CASES:
        meta, blob = build_case(spec)
        text = to_json(meta)
        jp = os.path.join(OUT_DIR, spec["case"] + ".json")
        bp = os.path.join(OUT_DIR, spec["case"] + ".bin")
        if args.check:
            same = os.path.exists(jp) and os.path.exists(bp) and open(bp, "rb").read() == blob and open(jp).read() == text
            print(f"{spec['case']}: {'up to date' if same else 'DIFFERS'}")
            status |= 0 if same else 1
            continue
        with open(jp, "w") as f:
            f.write(text)
        with open(bp, "wb") as f:
            f.write(blob)
        i = meta["info"]
        print(
            f"{spec['case']}: {len(meta['tensors'])} tensors, {len(blob)} bytes, seed {i['seed']}, loss {meta['expectedLoss']:.6f}, "
            f"correct {meta['expectedCorrect']}/{N}, kink margin {i['kinkMargin']:.2e}, argmax margin {i['argmaxMargin']:.2e}, "
            f"torch f32 vs f64: {json.dumps(i['torchFloat32Error'])}"
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
