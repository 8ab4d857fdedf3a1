"""Where a training step's time goes: torch.profiler over the G and D steps of one configuration.

    python -m smis.benchmarks.profile_step --preset cityscapes --device cuda
    python -m smis.benchmarks.profile_step --preset cityscapes --variant authors --deferred-finite-check
    python -m smis.benchmarks.profile_step --preset small --size 64x128 --batch 2 --no-vgg     # a CPU

The step is the train-step benchmark's (smis.benchmarks.train_step: the module's own G and D steps
with Adam, on Voronoi label maps and random images). After --warmup untimed steps, --steps steps
run under torch.profiler; per step it prints:

- the time of each class of operation (convolutions, normalisation, spectral norm's power
  iteration, element-wise maths, copies and layout, reductions, the optimiser, the rest): the
  operations' own device time on CUDA (their kernels), their own CPU time on a CPU;
- the kernel launches (cudaLaunchKernel and cudaLaunchKernelExC calls) and the host
  synchronisations (stream and device synchronisations, device-to-host copies): the two things
  that bind a small-batch step on a fast GPU;
- the twelve most expensive operations.

--json writes all of it, --trace a Chrome trace (chrome://tracing, https://ui.perfetto.dev).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from ..utils import atomic_write_text, size_type
from .train_step import BATCHES, SIZES, build_step, device_name, parse_variant

# operation name (aten::NAME, without the prefix) -> class; the first matching rule wins
CLASSES = (
    ("convolution", ("conv", "convolution", "cudnn_convolution", "mkldnn_convolution", "slow_conv")),
    ("matmul / linear", ("addmm", "mm", "bmm", "matmul", "linear", "baddbmm", "einsum")),
    ("spectral norm (mv, dot)", ("mv", "dot")),
    ("normalisation", ("batch_norm", "instance_norm", "group_norm", "layer_norm", "native_batch_norm",
                       "cudnn_batch_norm", "var_mean", "std_mean")),
    ("optimiser", ("foreach", "fused_adam", "adam")),
    ("copies and layout", ("copy_", "cat", "clone", "contiguous", "to", "_to_copy", "index", "scatter",
                           "gather", "flip", "upsample", "pad", "constant_pad_nd", "stack", "slice",
                           "select", "masked", "nonzero", "repeat", "expand", "empty", "zeros", "ones",
                           "fill_", "zero_", "full", "arange", "embedding", "sort", "unique", "view",
                           "as_strided", "reshape", "permute", "unsqueeze", "squeeze", "narrow", "t",
                           "transpose", "unsafe_view", "flatten", "split", "chunk", "unbind", "roll")),
    ("reductions", ("sum", "mean", "amax", "amin", "max", "min", "norm", "linalg_vector_norm", "any",
                    "all", "argmax", "std", "var", "cumsum")),
    ("element-wise", ("add", "sub", "mul", "div", "relu", "leaky_relu", "tanh", "exp", "log", "sigmoid",
                      "where", "clamp", "pow", "sqrt", "rsqrt", "neg", "abs", "lerp", "threshold",
                      "eq", "ne", "lt", "gt", "le", "ge", "rand", "randn", "normal_", "uniform_",
                      "multinomial", "maximum", "minimum", "sign", "reciprocal", "hardtanh", "softplus",
                      "addcdiv", "addcmul")),
)
LAUNCHES = ("cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel", "cuLaunchKernelEx")
SYNCS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize")


def op_class(name: str) -> str:
    """The class of one profiled operation ("aten::convolution_backward" -> "convolution"): an
    aten operation whose name, without leading underscores, is a stem of CLASSES, or a stem
    followed by "_" or a digit (add_, conv2d, native_batch_norm_backward)."""
    if not name.startswith("aten::"):
        return "other"
    short = name.removeprefix("aten::").lstrip("_")
    for label, stems in CLASSES:
        for stem in stems:
            stem = stem.strip("_")
            rest = short[len(stem):]
            if short.startswith(stem) and (not rest or rest[0] == "_" or rest[0].isdigit()):
                return label
    return "other"


def summarise(events, steps: int, on_cuda: bool) -> dict:
    """The profiler's averaged events -> the per-step summary that main prints and writes."""
    by_class, top = Counter(), []
    launches = syncs = device_to_host = 0
    for e in events:
        own = (e.self_device_time_total if on_cuda else e.self_cpu_time_total) / 1000 / steps   # ms
        if e.key in LAUNCHES:
            launches += e.count
        elif e.key in SYNCS:
            syncs += e.count
        elif "Memcpy DtoH" in e.key or "memcpy DtoH" in e.key.lower():
            device_to_host += e.count
        if e.key.startswith("aten::") and own > 0:
            by_class[op_class(e.key)] += own
            top.append((own, e.key, e.count / steps))
    total = sum(by_class.values())
    top.sort(reverse=True)
    return {"ms_per_step": total,
            "classes": [{"class": c, "ms": ms, "share": ms / total if total else 0.0}
                        for c, ms in by_class.most_common()],
            "kernel_launches_per_step": launches / steps, "syncs_per_step": syncs / steps,
            "device_to_host_copies_per_step": device_to_host / steps,
            "top": [{"op": name, "ms": ms, "calls": calls} for ms, name, calls in top[:12]]}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m smis.benchmarks.profile_step", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(SIZES), default="small",
                   help="the model preset (default small)")
    p.add_argument("--variant", type=parse_variant, default=parse_variant("32-true"), metavar="VARIANT",
                   help="as the train-step benchmark's --variants: 'authors' or "
                        "PRECISION[+channels_last][+compile] (default 32-true)")
    p.add_argument("--batch", type=int, default=None, help="default: the preset's dataset's per-GPU batch")
    p.add_argument("--size", type=size_type(), default=None, help="HxW, default: the preset's native size")
    p.add_argument("--no-vgg", action="store_true", help="leave the VGG loss out (weight 0)")
    p.add_argument("--norm-rule", default=None, choices=["fixed128", "fixed64", "fixed32"],
                   help="the conditional norms' rule (small preset only; default: the preset's)")
    p.add_argument("--deferred-finite-check", action="store_true",
                   help="the losses' NaN/inf check read once at the end, not in every step")
    p.add_argument("--steps", type=int, default=3, help="profiled steps (default 3)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="cpu, cuda, cuda:1, ... (default: cuda when there is one)")
    p.add_argument("--json", type=Path, default=Path("results/benchmarks/profile_step.json"),
                   help="where to write the summary (default results/benchmarks/profile_step.json)")
    p.add_argument("--trace", type=Path, default=None, help="also write a Chrome trace of the profiled steps")
    args = p.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        p.error("--steps must be at least 1 and --warmup at least 0")
    device = torch.device(args.device)
    size, batch = args.size or SIZES[args.preset], args.batch or BATCHES[args.preset]
    step, module = build_step(args.preset, size, batch, args.variant, args, device)
    on_cuda = device.type == "cuda"
    for i in range(args.warmup):
        step(i)
    if on_cuda:
        torch.cuda.synchronize(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_cuda else [])
    with profile(activities=activities) as prof:
        for i in range(args.warmup, args.warmup + args.steps):
            step(i)
        if on_cuda:
            torch.cuda.synchronize(device)
    module.read_finite()
    summary = summarise(prof.key_averages(), args.steps, on_cuda)
    summary.update({"device": device_name(device), "torch": torch.__version__, "preset": args.preset,
                    "size": f"{size[0]}x{size[1]}", "batch": batch, **args.variant, "vgg": not args.no_vgg,
                    "deferred_finite_check": args.deferred_finite_check, "steps": args.steps,
                    "time": "device time of each operation's own kernels" if on_cuda
                            else "CPU time of each operation itself"})

    print(f"{summary['device']}; torch {torch.__version__}; {args.preset} {size[0]}x{size[1]}, "
          f"batch {batch}, {args.variant['precision']}, encoder {args.variant['encoder']}; "
          f"{args.steps} profiled steps")
    print(f"per step: {summary['ms_per_step']:.1f} ms of {summary['time']}")
    for row in summary["classes"]:
        print(f"  {row['class']:26s} {row['ms']:9.2f} ms  {row['share']:6.1%}")
    if on_cuda:
        print(f"kernel launches per step: {summary['kernel_launches_per_step']:.0f}; host synchronisations "
              f"per step: {summary['syncs_per_step']:.1f}; device-to-host copies per step: "
              f"{summary['device_to_host_copies_per_step']:.1f}")
    print("most expensive operations (ms per step, calls per step):")
    for row in summary["top"]:
        print(f"  {row['op']:40s} {row['ms']:9.2f} ms  {row['calls']:6.0f}")
    atomic_write_text(json.dumps(summary, indent=2) + "\n", args.json)
    print(f"wrote {args.json.resolve()}")
    if args.trace:
        args.trace.parent.mkdir(parents=True, exist_ok=True)
        prof.export_chrome_trace(str(args.trace))
        print(f"wrote {args.trace.resolve()}")


if __name__ == "__main__":
    main()
