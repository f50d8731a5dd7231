"""PyTorch model of a greedynas supernet: the independent implementation used for golden tensors
(scripts/make_golden.py) and as the benchmark peer (bench/peers/torch_w1.py).

It reads the same space JSON as the engine, resolves it with the same derived sizes as
src/space/resolve.ts (mid = cin * e, SE width max(1, floor(mid * seRatio)), pad k // 2, default
normalisation mean 0.5 / std 0.25 per channel, BN eps 1e-5 / momentum 0.1), builds every candidate op
with plain torch modules, runs one path (an arch: one choice index per searchable layer) and converts
tensors between torch's layouts and the engine's names and channels-last layouts
(docs/parameters.md), in both directions.

Semantics implemented here (from docs/parameters.md, written independently of the C++ engine):
  stem:    conv k x k (stride, pad k//2, no bias) -> BN -> act
  MBConv:  [expand 1x1 -> BN -> act] (absent when e == 1) -> depthwise k x k (stride, pad k//2)
           -> BN -> act -> [SE] -> project 1x1 -> BN; + input when stride 1 and cin == cout
  SE:      pooled = mean over pixels; gate = sigmoid(fc2(relu(fc1(pooled)))); y = x * gate
  id:      skip (stride 1, cin == cout: no tensors) or 1x1 conv with the layer's stride -> BN
  head:    1x1 conv -> BN -> act -> global average pool -> fc
Images: NHWC uint8 / 255 (or float32 in [0, 1]), then (x - mean[c]) / std[c].

Requires only torch (numpy optional, for callers that want arrays).
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

# --------------------------------------------------------------------------------------------
# Space resolution (mirrors the derived sizes of src/space/resolve.ts; validation is minimal:
# the engine's resolver is the one that reports errors to users).
# --------------------------------------------------------------------------------------------

_OP = re.compile(r"^k(\d+)e(\d+)(_se)?$")


@dataclass
class Op:
    name: str
    kind: str  # 'mbconv' | 'skip' | 'conv1x1'
    kernel: int = 1
    expansion: int = 0
    se: bool = False
    mid: int = 0
    se_width: int = 0


@dataclass
class Layer:
    cin: int
    cout: int
    stride: int
    height: int
    width: int
    out_height: int
    out_width: int
    ops: List[Op] = field(default_factory=list)


@dataclass
class Space:
    raw: dict
    name: str
    in_h: int
    in_w: int
    in_c: int
    classes: int
    activation: str
    bn_eps: float
    bn_momentum: float
    mean: List[float]
    std: List[float]
    stem_cout: int
    stem_k: int
    stem_stride: int
    fixed: List[Layer]
    layers: List[Layer]
    op_names: List[str]
    head_cin: int
    head_cout: int


def _out(size: int, k: int, s: int) -> int:
    p = k // 2
    return (size + 2 * p - k) // s + 1


def _resolve_op(name: str, cin: int, cout: int, stride: int, se_ratio: float) -> Op:
    if name == "id":
        return Op(name, "skip" if (stride == 1 and cin == cout) else "conv1x1")
    m = _OP.match(name)
    if not m:
        raise ValueError(f"unknown op {name!r}")
    k, e, se = int(m.group(1)), int(m.group(2)), m.group(3) is not None
    if k not in (3, 5, 7) or not (1 <= e <= 8):
        raise ValueError(f"bad op {name!r}")
    mid = cin * e
    return Op(name, "mbconv", k, e, se, mid, max(1, int(math.floor(mid * se_ratio))) if se else 0)


def resolve_space(raw: dict) -> Space:
    inp = raw["input"]
    h, w, c = int(inp["height"]), int(inp["width"]), int(inp["channels"])
    se_ratio = float(raw.get("seRatio", 0.25))
    bn = raw.get("bn") or {}
    norm = raw.get("normalization") or {"mean": [0.5] * c, "std": [0.25] * c}
    if len(norm["mean"]) != c or len(norm["std"]) != c:
        raise ValueError("normalization: one mean and one std per input channel")
    stem = raw["stem"]
    stem_k, stem_s, stem_c = int(stem.get("kernel", 3)), int(stem["stride"]), int(stem["width"])
    h, w = _out(h, stem_k, stem_s), _out(w, stem_k, stem_s)
    ch = stem_c
    fixed: List[Layer] = []
    for b in raw.get("fixedBlocks") or []:
        k, e, cout, s = int(b["kernel"]), int(b["expansion"]), int(b["width"]), int(b["stride"])
        name = f"k{k}e{e}" + ("_se" if b.get("se") is True else "")
        op = _resolve_op(name, ch, cout, s, se_ratio)
        lay = Layer(ch, cout, s, h, w, _out(h, 3, s), _out(w, 3, s), [op])
        fixed.append(lay)
        ch, h, w = cout, lay.out_height, lay.out_width
    op_names = [str(o) for o in raw["ops"]]
    layers: List[Layer] = []
    for st in raw["stages"]:
        cout, n, s0 = int(st["width"]), int(st["layers"]), int(st["stride"])
        for j in range(n):
            s = s0 if j == 0 else 1
            ops = [_resolve_op(o, ch, cout, s, se_ratio) for o in op_names]
            lay = Layer(ch, cout, s, h, w, _out(h, 3, s), _out(w, 3, s), ops)
            layers.append(lay)
            ch, h, w = cout, lay.out_height, lay.out_width
    return Space(
        raw=raw,
        name=str(raw.get("name") or "custom"),
        in_h=int(inp["height"]),
        in_w=int(inp["width"]),
        in_c=c,
        classes=int(raw["classes"]),
        activation=str(raw.get("activation", "relu6")),
        bn_eps=float(bn.get("eps", 1e-5)),
        bn_momentum=float(bn.get("momentum", 0.1)),
        mean=[float(v) for v in norm["mean"]],
        std=[float(v) for v in norm["std"]],
        stem_cout=stem_c,
        stem_k=stem_k,
        stem_stride=stem_s,
        fixed=fixed,
        layers=layers,
        op_names=op_names,
        head_cin=ch,
        head_cout=int(raw["head"]["width"]),
    )


def load_space(path: str) -> Space:
    with open(path, "r", encoding="utf-8") as f:
        return resolve_space(json.load(f))


# --------------------------------------------------------------------------------------------
# Modules
# --------------------------------------------------------------------------------------------


class Act(nn.Module):
    """The space's activation. When `probe` is a list, every forward appends the smallest distance
    of its input to a kink of the function (used by make_golden.py to reject fixtures whose values
    sit so close to a kink that float32 rounding could flip a derivative)."""

    KINKS = {"relu": (0.0,), "relu6": (0.0, 6.0), "hswish": (-3.0, 3.0)}

    def __init__(self, kind: str):
        super().__init__()
        if kind not in self.KINKS:
            raise ValueError(f"unknown activation {kind!r}")
        self.kind = kind
        self.probe: Optional[list] = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.probe is not None:
            with torch.no_grad():
                self.probe.append(min(float((x - k).abs().min()) for k in self.KINKS[self.kind]))
        # torch's fused kernels (hardswish(x) = x * relu6(x + 3) / 6): a clamp-based formula
        # costs a third of a training step on CPU in its backward (where/ge/le).
        # In place, as torchvision's MobileNets do: every Act here follows a BN or a Linear, whose
        # backward needs their input, not their output.
        if self.kind == "relu":
            return F.relu(x, inplace=True)
        if self.kind == "relu6":
            return F.relu6(x, inplace=True)
        return F.hardswish(x, inplace=True)


class ConvBN(nn.Module):
    """conv (dense or depthwise, no bias) -> BN -> optional activation. Names: conv.weight, bn.*"""

    def __init__(self, cin: int, cout: int, k: int, stride: int, depthwise: bool, act: Optional[str], eps: float, momentum: float):
        super().__init__()
        self.depthwise = depthwise
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=cin if depthwise else 1, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=eps, momentum=momentum)
        self.act = Act(act) if act else None

    def forward(self, x):
        y = self.bn(self.conv(x))
        return self.act(y) if self.act is not None else y


class SE(nn.Module):
    def __init__(self, mid: int, r: int):
        super().__init__()
        self.fc1 = nn.Linear(mid, r)
        self.fc2 = nn.Linear(r, mid)
        self.relu = Act("relu")

    def forward(self, x):
        pooled = x.mean(dim=(2, 3))
        gate = torch.sigmoid(self.fc2(self.relu(self.fc1(pooled))))
        return x * gate[:, :, None, None]


class MBConv(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, op: Op, act: str, eps: float, momentum: float):
        super().__init__()
        mid = op.mid
        self.expand = ConvBN(cin, mid, 1, 1, False, act, eps, momentum) if op.expansion != 1 else None
        self.dw = ConvBN(mid, mid, op.kernel, stride, True, act, eps, momentum)
        self.se = SE(mid, op.se_width) if op.se else None
        self.project = ConvBN(mid, cout, 1, 1, False, None, eps, momentum)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.expand(x) if self.expand is not None else x
        y = self.dw(y)
        if self.se is not None:
            y = self.se(y)
        y = self.project(y)
        return y + x if self.residual else y


class IdConv(nn.Module):
    """Identity at a reduction layer: 1x1 conv with the layer's stride -> BN. Names: conv.weight, bn.*"""

    def __init__(self, cin: int, cout: int, stride: int, eps: float, momentum: float):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, stride, 0, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=eps, momentum=momentum)

    def forward(self, x):
        return self.bn(self.conv(x))


class Skip(nn.Module):
    def forward(self, x):
        return x


def _make_op(lay: Layer, op: Op, sp: Space) -> nn.Module:
    if op.kind == "mbconv":
        return MBConv(lay.cin, lay.cout, lay.stride, op, sp.activation, sp.bn_eps, sp.bn_momentum)
    if op.kind == "conv1x1":
        return IdConv(lay.cin, lay.cout, lay.stride, sp.bn_eps, sp.bn_momentum)
    return Skip()


class Head(nn.Module):
    def __init__(self, cin: int, cout: int, act: str, eps: float, momentum: float):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, 1, 0, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=eps, momentum=momentum)
        self.act = Act(act)

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class SuperNet(nn.Module):
    """Every candidate op of every layer (weight sharing across paths, not across ops). Module
    names reproduce the engine's tensor names: stem, fixed.<i>, layers.<l>.<j>, head, fc.

    only_arch=None builds every choice of every layer; only_arch=arch builds just that path's ops
    (the tensors a fixture holds)."""

    def __init__(self, sp: Space, only_arch: Optional[Sequence[int]] = None):
        super().__init__()
        self.space = sp
        self.register_buffer("mean", torch.tensor(sp.mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(sp.std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.stem = ConvBN(sp.in_c, sp.stem_cout, sp.stem_k, sp.stem_stride, False, sp.activation, sp.bn_eps, sp.bn_momentum)
        self.fixed = nn.ModuleList([_make_op(l, l.ops[0], sp) for l in sp.fixed])
        self.layers = nn.ModuleList()
        for li, lay in enumerate(sp.layers):
            choices = range(len(lay.ops)) if only_arch is None else [int(only_arch[li])]
            self.layers.append(nn.ModuleDict({str(j): _make_op(lay, lay.ops[j], sp) for j in choices}))
        self.head = Head(sp.head_cin, sp.head_cout, sp.activation, sp.bn_eps, sp.bn_momentum)
        self.fc = nn.Linear(sp.head_cout, sp.classes)

    def check_arch(self, arch: Sequence[int]) -> None:
        if len(arch) != len(self.space.layers):
            raise ValueError(f"arch has {len(arch)} choices, the space has {len(self.space.layers)} layers")
        for li, j in enumerate(arch):
            if str(int(j)) not in self.layers[li]:
                raise ValueError(f"layer {li}: choice {j} not built")

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """NHWC uint8 (or float in [0,1]) -> normalised NCHW view (channels-last memory)."""
        x = images.to(self.mean.dtype)
        if images.dtype == torch.uint8:
            x = x / 255.0
        x = x.permute(0, 3, 1, 2)
        return (x - self.mean) / self.std

    def forward(self, images: torch.Tensor, arch: Sequence[int]) -> torch.Tensor:
        x = self.normalize(images)
        x = self.stem(x)
        for blk in self.fixed:
            x = blk(x)
        for li, j in enumerate(arch):
            x = self.layers[li][str(int(j))](x)
        x = self.head(x)
        x = x.mean(dim=(2, 3))
        return self.fc(x)

    # ---- tensors of one path ----
    def path_modules(self, arch: Sequence[int]) -> List[Tuple[str, nn.Module]]:
        mods: List[Tuple[str, nn.Module]] = [("stem", self.stem)]
        mods += [(f"fixed.{i}", m) for i, m in enumerate(self.fixed)]
        mods += [(f"layers.{li}.{int(j)}", self.layers[li][str(int(j))]) for li, j in enumerate(arch)]
        mods += [("head", self.head), ("fc", self.fc)]
        return mods

    def path_named_tensors(self, arch: Sequence[int]) -> List[Tuple[str, torch.Tensor, str, nn.Module]]:
        """(our name, torch tensor, 'param' | 'buffer', owning module) for every tensor of the path,
        in a stable order. BN's num_batches_tracked is not one of ours and is left out."""
        out = []
        for prefix, mod in self.path_modules(arch):
            for sub_name, sub in mod.named_modules():
                for pname, p in sub.named_parameters(recurse=False):
                    out.append((_join(prefix, sub_name, pname), p, "param", sub))
                for bname, b in sub.named_buffers(recurse=False):
                    if bname in ("running_mean", "running_var"):
                        out.append((_join(prefix, sub_name, bname), b, "buffer", sub))
        return out

    def bn_modules(self) -> Iterable[nn.BatchNorm2d]:
        return (m for m in self.modules() if isinstance(m, nn.BatchNorm2d))

    def act_modules(self) -> Iterable[Act]:
        return (m for m in self.modules() if isinstance(m, Act))


def _join(*parts: str) -> str:
    return ".".join(p for p in parts if p)


class batch_stats_only:
    """Context: BN uses the batch's own statistics and leaves the running ones untouched (GreedyNAS
    scoring, engine's predict(..., {bn: 'batch'})). Restores the modules' state on exit."""

    def __init__(self, net: nn.Module):
        self.net = net
        self.saved: list = []

    def __enter__(self):
        self.saved = [(m, m.training, m.track_running_stats) for m in self.net.modules() if isinstance(m, nn.BatchNorm2d)]
        for m, _, _ in self.saved:
            m.train(True)
            m.track_running_stats = False  # torch then passes no running stats: batch stats, no update
        return self

    def __exit__(self, *exc):
        for m, tr, trs in self.saved:
            m.train(tr)
            m.track_running_stats = trs
        return False


# --------------------------------------------------------------------------------------------
# Layout conversion between torch tensors and ours (docs/parameters.md)
# --------------------------------------------------------------------------------------------


def to_ours(t: torch.Tensor, module: nn.Module) -> torch.Tensor:
    """A torch parameter/buffer -> our layout (contiguous, same dtype)."""
    t = t.detach()
    if isinstance(module, nn.Conv2d) and t.dim() == 4:
        if module.groups == 1:
            if t.shape[2] == 1 and t.shape[3] == 1:
                return t.reshape(t.shape[0], t.shape[1]).contiguous()  # 1x1: [K][C]
            return t.permute(0, 2, 3, 1).contiguous()  # [K][k][k][C]
        c, _, kh, kw = t.shape
        return t.reshape(c, kh, kw).permute(1, 2, 0).contiguous()  # depthwise: [k][k][C]
    return t.contiguous()


def from_ours(a: torch.Tensor, like: torch.Tensor, module: nn.Module) -> torch.Tensor:
    """Our layout -> the torch layout of `like` (same shape as like)."""
    a = a.to(like.dtype)
    if isinstance(module, nn.Conv2d) and like.dim() == 4:
        k_, c_, kh, kw = like.shape
        if module.groups == 1:
            if kh == 1 and kw == 1:
                return a.reshape(k_, c_, 1, 1).contiguous()
            return a.reshape(k_, kh, kw, c_).permute(0, 3, 1, 2).contiguous()
        return a.reshape(kh, kw, k_).permute(2, 0, 1).reshape(k_, 1, kh, kw).contiguous()
    return a.reshape(like.shape).contiguous()


def our_shape(t: torch.Tensor, module: nn.Module) -> List[int]:
    return list(to_ours(t, module).shape)


def path_state(net: SuperNet, arch: Sequence[int]) -> Dict[str, torch.Tensor]:
    """Every tensor of the path, by our name, in our layout."""
    return {name: to_ours(t, owner) for name, t, _, owner in net.path_named_tensors(arch)}


def load_path_state(net: SuperNet, arch: Sequence[int], state: Dict[str, torch.Tensor], strict: bool = True) -> None:
    """Sets the path's tensors from our names/layouts. strict: every tensor of the path must be given."""
    seen = set()
    with torch.no_grad():
        for name, t, _, owner in net.path_named_tensors(arch):
            if name not in state:
                if strict:
                    raise KeyError(f"missing tensor {name}")
                continue
            a = state[name]
            a = a if isinstance(a, torch.Tensor) else torch.as_tensor(a)
            expect = our_shape(t, owner)
            if int(a.numel()) != math.prod(expect):
                raise ValueError(f"{name}: expected {expect} ({math.prod(expect)} values), got {list(a.shape)}")
            t.copy_(from_ours(a.reshape(expect), t, owner))
            seen.add(name)
    if strict:
        extra = set(state) - seen
        if extra:
            raise KeyError(f"tensors not on the path: {sorted(extra)[:5]}")


# --------------------------------------------------------------------------------------------
# Initialisation as in docs/parameters.md (used by the benchmark peer)
# --------------------------------------------------------------------------------------------


def init_default(net: nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                # Kaiming normal, fan_out, relu gain: std = sqrt(2 / (out_channels / groups * k * k))
                fan_out = m.out_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * math.sqrt(2.0 / fan_out))
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.fill_(1.0)
                m.bias.zero_()
                m.running_mean.zero_()
                m.running_var.fill_(1.0)
            elif isinstance(m, nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 0.01)
                m.bias.zero_()


def decay_groups(net: nn.Module, weight_decay: float) -> List[dict]:
    """Parameter groups: weight decay on conv and fc weights, none on BN parameters and biases."""
    decay, no_decay = [], []
    for m in net.modules():
        for pname, p in m.named_parameters(recurse=False):
            if isinstance(m, (nn.Conv2d, nn.Linear)) and pname == "weight":
                decay.append(p)
            else:
                no_decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


# --------------------------------------------------------------------------------------------
# Self-test: a second, loop-level NumPy implementation of the eval-mode and batch-BN forward that
# reads tensors in OUR names and layouts (NHWC activations, [K][k][k][C] / [k][k][C] weights).
# It checks the torch modules and, above all, the layout conversions of this file.
#   /usr/bin/python3 scripts/torch_supernet.py [fixture.json ...]
# --------------------------------------------------------------------------------------------


def _np_forward(sp: Space, arch: Sequence[int], st: Dict[str, "object"], images, batch_bn: bool, running_out=None):
    """Logits; with batch_bn and a dict running_out, also the running statistics a train-mode
    forward leaves (momentum of the space, unbiased variance), by our names."""
    import numpy as np

    def act(x, kind):
        if kind == "relu":
            return np.maximum(x, 0)
        if kind == "relu6":
            return np.clip(x, 0, 6)
        return x * np.clip(x + 3, 0, 6) / 6

    def conv(x, w, k, s, depthwise):
        n, h, wd, c = x.shape
        p = k // 2
        ho, wo = (h + 2 * p - k) // s + 1, (wd + 2 * p - k) // s + 1
        xp = np.zeros((n, h + 2 * p, wd + 2 * p, c))
        xp[:, p : p + h, p : p + wd, :] = x
        kout = c if depthwise else w.shape[0]
        w4 = w.reshape(kout, k, k, c) if not depthwise else w.reshape(k, k, c)
        y = np.zeros((n, ho, wo, kout))
        for i in range(k):
            for j in range(k):
                patch = xp[:, i : i + s * (ho - 1) + 1 : s, j : j + s * (wo - 1) + 1 : s, :]
                y += patch * w4[i, j, :] if depthwise else patch @ w4[:, i, j, :].T
        return y

    def bn(x, pre):
        g, b = st[pre + ".weight"], st[pre + ".bias"]
        if batch_bn:
            m, v = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
            if running_out is not None:
                cnt, mom = x.shape[0] * x.shape[1] * x.shape[2], sp.bn_momentum
                running_out[pre + ".running_mean"] = (1 - mom) * st[pre + ".running_mean"] + mom * m
                running_out[pre + ".running_var"] = (1 - mom) * st[pre + ".running_var"] + mom * v * cnt / (cnt - 1)
        else:
            m, v = st[pre + ".running_mean"], st[pre + ".running_var"]
        return (x - m) / np.sqrt(v + sp.bn_eps) * g + b

    def mbconv(x, pre, lay, op):
        y = x
        if op.expansion != 1:
            y = act(bn(conv(y, st[pre + ".expand.conv.weight"], 1, 1, False), pre + ".expand.bn"), sp.activation)
        y = act(bn(conv(y, st[pre + ".dw.conv.weight"], op.kernel, lay.stride, True), pre + ".dw.bn"), sp.activation)
        if op.se:
            pooled = y.mean(axis=(1, 2))
            hid = np.maximum(pooled @ st[pre + ".se.fc1.weight"].T + st[pre + ".se.fc1.bias"], 0)
            gate = 1 / (1 + np.exp(-(hid @ st[pre + ".se.fc2.weight"].T + st[pre + ".se.fc2.bias"])))
            y = y * gate[:, None, None, :]
        y = bn(conv(y, st[pre + ".project.conv.weight"], 1, 1, False), pre + ".project.bn")
        return y + x if (lay.stride == 1 and lay.cin == lay.cout) else y

    def block(x, pre, lay, op):
        if op.kind == "mbconv":
            return mbconv(x, pre, lay, op)
        if op.kind == "conv1x1":
            return bn(conv(x, st[pre + ".conv.weight"], 1, lay.stride, False), pre + ".bn")
        return x

    x = images.astype(np.float64) / 255.0
    x = (x - np.array(sp.mean)) / np.array(sp.std)
    x = act(bn(conv(x, st["stem.conv.weight"], sp.stem_k, sp.stem_stride, False), "stem.bn"), sp.activation)
    for i, lay in enumerate(sp.fixed):
        x = block(x, f"fixed.{i}", lay, lay.ops[0])
    for li, j in enumerate(arch):
        x = block(x, f"layers.{li}.{j}", sp.layers[li], sp.layers[li].ops[j])
    x = act(bn(conv(x, st["head.conv.weight"], 1, 1, False), "head.bn"), sp.activation)
    return x.mean(axis=(1, 2)) @ st["fc.weight"].T + st["fc.bias"]


def _selftest(fixtures: Sequence[str]) -> int:
    import numpy as np

    bad = 0
    for path in fixtures:
        meta = json.load(open(path))
        blob = open(path[: -len(".json")] + ".bin", "rb").read()
        arr = {}
        for a in meta["arrays"]:
            count = int(np.prod(a["shape"])) if a["shape"] else 1
            arr[a["name"]] = np.frombuffer(blob, dtype=a["dtype"], count=count, offset=a["offset"]).reshape(a["shape"])
        sp = resolve_space(meta["space"])
        arch = meta["arch"]
        st = {t["name"]: arr["init/" + t["name"]].astype(np.float64) for t in meta["tensors"]}
        # 1. names and shapes of the torch path == the fixture's listing
        net = SuperNet(sp, only_arch=arch).double()
        listing = [(n, our_shape(t, o), k) for n, t, k, o in net.path_named_tensors(arch)]
        if listing != [(t["name"], t["shape"], t["kind"]) for t in meta["tensors"]]:
            print(f"{path}: tensor listing differs")
            bad += 1
        # 2. ours -> torch -> ours round trip is exact
        load_path_state(net, arch, {k: torch.from_numpy(v) for k, v in st.items()})
        back = path_state(net, arch)
        if any(not np.array_equal(back[k].numpy(), st[k]) for k in st):
            print(f"{path}: layout round trip is not exact")
            bad += 1
        # 3. NumPy forward from our layouts == the fixture's expected logits (made by torch)
        images = arr["images"]
        name = os.path.basename(path)
        running: dict = {}
        for mode, batch_bn in (("logits_batch", True), ("logits_running", False)):
            ref = arr["expected/" + mode].astype(np.float64)
            got = _np_forward(sp, arch, st, images, batch_bn, running if batch_bn else None)
            err = float(np.abs(got - ref).max()) / max(1.0, float(np.abs(ref).max()))
            ok = err < 1e-6
            bad += 0 if ok else 1
            print(f"{name} {mode}: numpy vs torch rel err {err:.2e} {'ok' if ok else 'FAIL'}")
            if batch_bn:
                # 4. loss with label smoothing from the batch-BN logits (== the train forward's)
                z = got - got.max(axis=1, keepdims=True)
                logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
                k, eps = logp.shape[1], float(meta["labelSmoothing"])
                tgt = np.full(logp.shape, eps / k)
                tgt[np.arange(len(logp)), arr["labels"]] += 1 - eps
                loss = float(-(tgt * logp).sum(axis=1).mean())
                lerr = abs(loss - meta["expectedLoss"])
                bad += 0 if lerr < 1e-9 else 1
                print(f"{name} loss: numpy {loss:.9f} torch {meta['expectedLoss']:.9f} {'ok' if lerr < 1e-9 else 'FAIL'}")
        # 5. running statistics after the train-mode forward
        rerr = max(float(np.abs(v - arr["after/" + k]).max()) / max(1e-3, float(np.abs(v).max())) for k, v in running.items())
        nbn = sum(1 for t in meta["tensors"] if t["kind"] == "buffer")
        ok = rerr < 1e-6 and len(running) == nbn
        bad += 0 if ok else 1
        print(f"{name} running stats ({len(running)}/{nbn}): numpy vs torch rel err {rerr:.2e} {'ok' if ok else 'FAIL'}")
    return 1 if bad else 0


if __name__ == "__main__":
    import glob
    import sys

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    files = sys.argv[1:] or sorted(glob.glob(os.path.join(here, "test", "fixtures", "golden", "*.json")))
    sys.exit(_selftest(files))
