"""GroupDNet's grouped convolutions three ways: the library's grouped kernel, one dense conv with a
block-diagonal weight, and unfold + one batched matmul (smis.networks.grouped).

    python -m smis.benchmarks.grouped_conv --presets cityscapes ade20k deepfashion --device cuda
    python -m smis.benchmarks.grouped_conv --presets small --backward          # on a CPU

For each preset, one decode at its native size (batch --batch) records every grouped conv the
generator runs (its blocks' convs and the conditional norms' label convs: input and weight shapes,
groups); each distinct shape is then timed with each implementation (median of --repeats after
one warm-up; forward only, or forward + backward with --backward) and weighted by how often the
decode runs it. Printed per preset: the total per decode for each implementation, the total when
each shape takes its fastest, and the shapes where the grouped kernel loses most. Every
implementation's output is checked against the grouped kernel's first (a mismatch is an error).

JSON (--json): {"device", "torch", "batch", "backward", "repeats", "presets": [{"preset", "size",
"convs", "shapes": [{"input", "weight", "groups", "count", "ms": {"grouped", "dense", "bmm"}}],
"total_ms": {...}, "best_per_shape_ms"}]}.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import torch
import torch.nn.functional as F

from ..data.synthetic import voronoi_labels
from ..networks import GroupDNet
from ..networks import preset as model_preset
from ..networks.grouped import IMPLEMENTATIONS
from ..utils import atomic_write_text, size_type
from .timing import median_ms
from .train_step import SIZES, device_name


@torch.no_grad()
def grouped_shapes(name: str, size: tuple[int, int], batch: int, device: torch.device) -> Counter:
    """The grouped convs of one decode: Counter of (input shape, weight shape, groups, padding)."""
    net = GroupDNet(model_preset(name), with_discriminator=False).to(device).eval()
    for m in net.modules():
        if hasattr(m, "border_path"):
            m.border_path = False          # the CPU's border path skips the norms' convs
    label, instance = voronoi_labels(batch, net.config.num_classes, *size)
    label = label.to(device)
    instance = instance.to(device) if net.config.instance_edges else None
    seen, real = Counter(), F.conv2d

    def recording(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        plain = stride in (1, (1, 1)) and dilation in (1, (1, 1)) and not isinstance(padding, str)
        if groups > 1 and plain:
            pad = padding if isinstance(padding, int) else padding[0]
            seen[(tuple(x.shape), tuple(weight.shape), groups, pad)] += 1
        return real(x, weight, bias, stride, padding, dilation, groups)

    F.conv2d = recording
    try:
        net.decode(label, net.sample_z(batch, *size, device=device), instance)
    finally:
        F.conv2d = real
    return seen


def time_shape(shape: tuple, device: torch.device, repeats: int, backward: bool) -> dict[str, float]:
    """Median ms of each implementation on one conv shape (output checked against the grouped kernel)."""
    x_shape, w_shape, groups, padding = shape
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(x_shape, device=device, generator=g).requires_grad_(backward)
    w = (torch.randn(w_shape, device=device, generator=g) / (w_shape[1] * 9) ** 0.5).requires_grad_(backward)
    b = torch.randn(w_shape[0], device=device, generator=g).requires_grad_(backward)
    inputs = (x, w, b)

    def run(conv) -> torch.Tensor:
        out = conv(x, w, b, groups, padding)
        if backward:
            torch.autograd.grad(out.sum(), inputs)          # no .grad accumulating between runs
        return out

    reference, times = None, {}
    for label, conv in IMPLEMENTATIONS.items():
        out = run(conv).detach()
        if reference is None:
            reference = out
        elif not torch.allclose(out, reference, rtol=1e-3, atol=1e-3 * float(reference.abs().max())):
            raise RuntimeError(f"{label} differs from the grouped kernel on {shape}")
        times[label] = median_ms(lambda conv=conv: run(conv), repeats, device)
    return times


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m smis.benchmarks.grouped_conv", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", nargs="+", choices=sorted(SIZES), default=None,
                   help="default: deepfashion cityscapes ade20k small on CUDA; small on a CPU")
    p.add_argument("--size", type=size_type(), default=None, help="HxW, default: each preset's native size")
    p.add_argument("--batch", type=int, default=1, help="images per decode (default 1)")
    p.add_argument("--backward", action="store_true", help="time forward + backward (training), not forward")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per shape and implementation (median)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="cpu, cuda, cuda:1, ... (default: cuda when there is one)")
    p.add_argument("--json", type=Path, default=Path("results/benchmarks/grouped_conv.json"),
                   help="where to write the figures (default results/benchmarks/grouped_conv.json)")
    args = p.parse_args(argv)
    if args.batch < 1 or args.repeats < 1:
        p.error("--batch and --repeats must be at least 1")
    device = torch.device(args.device)
    presets = args.presets or (list(SIZES) if device.type == "cuda" else ["small"])
    print(f"{device_name(device)}; torch {torch.__version__}; batch {args.batch}; "
          f"{'forward + backward' if args.backward else 'forward'}; median of {args.repeats}")
    results = []
    for name in presets:
        size = args.size or SIZES[name]
        shapes = grouped_shapes(name, size, args.batch, device)
        rows = []
        for shape, count in shapes.items():
            ms = time_shape(shape, device, args.repeats, args.backward)
            rows.append({"input": list(shape[0]), "weight": list(shape[1]), "groups": shape[2],
                         "count": count, "ms": ms})
        total = {impl: sum(r["ms"][impl] * r["count"] for r in rows) for impl in IMPLEMENTATIONS}
        best = sum(min(r["ms"].values()) * r["count"] for r in rows)
        results.append({"preset": name, "size": f"{size[0]}x{size[1]}", "convs": sum(shapes.values()),
                        "shapes": rows, "total_ms": total, "best_per_shape_ms": best})
        grouped = total["grouped"]
        print(f"\n{name} {size[0]}x{size[1]}: {sum(shapes.values())} grouped convs per decode, "
              f"{len(shapes)} shapes")
        for impl, ms in total.items():
            print(f"  {impl:8s} {ms:9.2f} ms  ({grouped / ms:.2f}x the grouped kernel)")
        print(f"  {'best per shape':8s} {best:3.2f} ms  ({grouped / best:.2f}x)")
        losers = sorted(rows, key=lambda r: r["count"] * (r["ms"]["grouped"] - min(r["ms"].values())),
                        reverse=True)[:5]
        for r in losers:
            fastest = min(r["ms"], key=r["ms"].get)
            print(f"    in {tuple(r['input'])} weight {tuple(r['weight'])} g={r['groups']} x{r['count']}: "
                  f"grouped {r['ms']['grouped']:.3f} ms, {fastest} {r['ms'][fastest]:.3f} ms")
    atomic_write_text(json.dumps({"device": device_name(device), "torch": torch.__version__,
                                  "batch": args.batch, "backward": args.backward, "repeats": args.repeats,
                                  "presets": results}, indent=2) + "\n", args.json)
    print(f"\nwrote {args.json.resolve()}")


if __name__ == "__main__":
    main()
