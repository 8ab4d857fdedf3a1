"""One decode in onnxruntime against eager PyTorch on the CPU: the exported graph (smis-export) for
the shipped model and the authors' three presets, under thread counts and graph optimisation levels.

    python -m smis.benchmarks.export                  # all four models (~15 min on a quiet 2-core CPU)
    python -m smis.benchmarks.export --models synthetic --repeats 20 --threads 1
    python -m smis.benchmarks.export --models cityscapes --levels all --int8-models --dense-models

Models: the shipped "synthetic" model (its trained weights) at 128x128, and the authors' presets at
their full widths and native sizes (cityscapes 256x512, ade20k 256x256, deepfashion 256x256) with
random weights (their spectral norms' power iterations run first, so values stay finite; a random
network costs what a trained one does). Inputs: one label map of Voronoi blobs (Cityscapes: with
instance ids) and z ~ N(0, I), batch 1. Every graph is the fixed-size decoder (`export(size=...)`).

Rows, per model:
  eager            GroupDNet.decode as smis runs it (on a CPU its conditional norms take the
                   border path, `networks/borders.py`), torch.set_num_threads(threads)
  eager dense      the same with the dense convs (border_path off): the computation the graph has;
                   for the --dense-models only
  onnxruntime      InferenceSession, intra_op_num_threads = threads, graph optimisation level
                   basic | extended | all (all adds the NCHWc layout transforms for convs); the
                   presets: --preset-levels. Their sessions shrink the memory arena after each
                   run ("memory.enable_memory_arena_shrinkage"): a Cityscapes session otherwise
                   keeps its 2.5 GB peak, and all sessions live side by side (so ORT re-faults its
                   buffers each decode, as eager PyTorch does)
  ort int8         onnxruntime.quantization.quantize_dynamic of the convs (ConvInteger), level all,
                   for the --int8-models only (quantising a 300 MB graph takes a while)
"ms" is the median of --repeats decodes (the authors' presets: --preset-repeats, as one of their
decodes takes seconds) after one warm-up; "vs eager" is eager's ms at the same thread count over
the row's (above 1: faster than eager); "max |diff|" the largest difference from eager's image
(images in [-1, 1]; with random weights the presets' images are nearly constant, so there it says
little: tests/unit/hub/test_export.py checks parity on calibrated networks). The configurations take turns,
one decode each per round, with a --pause between decodes (thread pools that spin after a call
leave the next one the cores), so a busy machine slows all alike: on a shared machine read the
ratios, not the milliseconds.

JSON (--json): {"device", "torch", "onnxruntime", "repeats", "preset_repeats", "load_average": [start, end],
"models": [{"model", "size", "export_s", "onnx_mib"}], "rows": [{"model", "size", "runtime",
"threads", "level", "ms", "vs_eager", "max_diff"}]}.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from ..data.synthetic import voronoi_labels
from ..hub import load_model
from ..hub.export import DecodeGraph, metadata, onnx_bytes, require
from ..networks import GroupDNet, preset
from ..networks.normalization import CondGroupNorm
from ..utils import atomic_write_text
from .studio import settle_spectral_norms

MODELS = {"synthetic": (128, 128), "cityscapes": (256, 512), "ade20k": (256, 256), "deepfashion": (256, 256)}
LEVELS = ("basic", "extended", "all")
COLUMNS = (("model", 11), ("size", 7), ("runtime", 16), ("threads", 7), ("level", 8), ("ms", 9),
           ("vs eager", 8), ("max |diff|", 10))
NUMERIC = {"threads", "ms", "vs eager", "max |diff|"}


def build(name: str) -> GroupDNet:
    """The shipped model, or a preset at the authors' widths with random (settled) weights."""
    if name == "synthetic":
        return load_model("synthetic")
    torch.manual_seed(0)
    net = GroupDNet(preset(name), with_discriminator=False).eval()
    settle_spectral_norms(net)
    return net


def dense(net: GroupDNet) -> GroupDNet:
    """`net` deciding nothing by the label map: every conditional norm on its dense convs."""
    import copy

    net = copy.deepcopy(net)
    for m in net.modules():
        if isinstance(m, CondGroupNorm):
            m.border_path = False
    return net


def session(model: bytes | str, threads: int, level: str):
    ort = require("onnxruntime", "this benchmark")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = {
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[level]
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def quantized(model: bytes, folder: Path) -> str:
    """The graph with its convs dynamically quantised to int8 (a file path). The conditional norms'
    gamma/beta weights are computed by Reshape/Concat of constants in the exported graph, so it
    is constant-folded first (quantize_dynamic wants initializers)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    (folder / "fp32.onnx").write_bytes(model)
    quant_pre_process(str(folder / "fp32.onnx"), str(folder / "folded.onnx"), skip_symbolic_shape=True)
    quantize_dynamic(str(folder / "folded.onnx"), str(folder / "int8.onnx"), weight_type=QuantType.QInt8,
                     op_types_to_quantize=["Conv"])
    return str(folder / "int8.onnx")


def timed_in_turns(calls: dict, repeats: int, pause: float) -> dict:
    """Median ms of each call: one warm-up round, then `repeats` rounds in which every call runs once."""
    times = {key: [] for key in calls}
    for i in range(repeats + 1):
        for key, call in calls.items():
            time.sleep(pause)
            start = time.perf_counter()
            call()
            if i:
                times[key].append(1000 * (time.perf_counter() - start))
    return {key: statistics.median(t) for key, t in times.items()}


def bench_model(name: str, args, folder: Path) -> tuple[dict, list[dict]]:
    size = MODELS[name]
    net = build(name)
    label, instance = voronoi_labels(1, net.config.num_classes, *size)
    instance = instance if net.config.instance_edges else None
    z = net.sample_z(1, *size, generator=torch.Generator().manual_seed(0))
    decoder_args = (label, z) + ((instance,) if instance is not None else ())
    feeds = {"label": label.numpy(), "z": z.numpy()}
    if instance is not None:
        feeds["instance"] = instance.numpy()

    start = time.perf_counter()
    with torch.no_grad():
        model = onnx_bytes(DecodeGraph(net), decoder_args, metadata(net, size, "decoder"), dynamic=False)
    info = {"model": name, "size": f"{size[0]}x{size[1]}", "export_s": time.perf_counter() - start,
            "onnx_mib": len(model) / 2**20}
    net_dense = dense(net) if name in args.dense_models else None
    with torch.no_grad():
        reference = net.decode(*decoder_args).numpy()

    def eager(module: GroupDNet, threads: int):
        def call():
            torch.set_num_threads(threads)
            with torch.no_grad():
                return module.decode(*decoder_args).numpy()
        return call

    calls, outputs = {}, {}
    run_options = require("onnxruntime", "this benchmark").RunOptions()
    if name != "synthetic":
        run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    for threads in args.threads:
        calls["eager", threads, "-"] = eager(net, threads)
        if name in args.dense_models:
            calls["eager dense", threads, "-"] = eager(net_dense, threads)
        for level in args.levels if name == "synthetic" else args.preset_levels:
            s = session(model, threads, level)
            calls["onnxruntime", threads, level] = lambda s=s: s.run(None, feeds, run_options)[0]
        if name in args.int8_models:
            s = session(quantized(model, folder), threads, "all")
            calls["ort int8", threads, "all"] = lambda s=s: s.run(None, feeds, run_options)[0]
    for key, call in calls.items():
        outputs[key] = call()
    repeats = args.repeats if name == "synthetic" else args.preset_repeats
    ms = timed_in_turns(calls, repeats, args.pause)
    rows = []
    for (runtime, threads, level), value in ms.items():
        diff = float(abs(outputs[runtime, threads, level] - reference).max())
        rows.append({"model": name, "size": info["size"], "runtime": runtime, "threads": threads,
                     "level": level, "ms": value, "vs_eager": ms["eager", threads, "-"] / value,
                     "max_diff": None if runtime == "eager" else diff})
    return info, rows


def line(cells: list[str]) -> str:
    return "  ".join(c.rjust(w) if h in NUMERIC else c.ljust(w) for c, (h, w) in zip(cells, COLUMNS))


def format_row(row: dict) -> str:
    diff = "-" if row["max_diff"] is None else f"{row['max_diff']:.1e}"
    return line([row["model"], row["size"], row["runtime"], str(row["threads"]), row["level"],
                 f"{row['ms']:.1f}", f"{row['vs_eager']:.2f}x", diff])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m smis.benchmarks.export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS),
                   help="which models (default: all four)")
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2],
                   help="thread counts: torch.set_num_threads and onnxruntime's intra_op_num_threads "
                        "(default: 1 2)")
    p.add_argument("--levels", nargs="+", choices=LEVELS, default=list(LEVELS),
                   help="onnxruntime graph optimisation levels for the shipped model (default: all three)")
    p.add_argument("--preset-levels", nargs="+", choices=LEVELS, default=["basic", "all"],
                   help="the same for the authors' presets (default: basic all; a decode takes seconds)")
    p.add_argument("--int8-models", nargs="*", choices=list(MODELS), default=["synthetic"],
                   help="models also timed with int8 dynamic quantisation (default: synthetic; "
                        "none with the flag alone)")
    p.add_argument("--dense-models", nargs="*", choices=list(MODELS), default=["synthetic"],
                   help="models also timed in eager PyTorch with the dense convs (default: synthetic)")
    p.add_argument("--repeats", type=int, default=5,
                   help="timed decodes per configuration of the shipped model (median; default 5)")
    p.add_argument("--preset-repeats", type=int, default=2,
                   help="the same for the authors' presets (default 2)")
    p.add_argument("--pause", type=float, default=0.1, help="seconds of rest before each decode")
    p.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = p.parse_args(argv)
    if min(args.repeats, args.preset_repeats, *args.threads) < 1:
        p.error("--repeats, --preset-repeats and --threads must be at least 1")
    ort = require("onnxruntime", "this benchmark")

    load_start = os.getloadavg()[0]
    cpu = f"{platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores"
    print(f"{cpu}; torch {torch.__version__}, onnxruntime {ort.__version__}; batch 1, median of "
          f"{args.repeats} (presets: {args.preset_repeats}) decodes after 1 warm-up, configurations "
          f"taking turns; load average {load_start:.2f}")
    if load_start > 0.5:
        print("note: the machine is busy (load average above 0.5): the milliseconds are noisy; the ratios "
              "were measured side by side")
    print(line([h for h, _ in COLUMNS]))
    threads_before = torch.get_num_threads()
    infos, rows = [], []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            info, model_rows = bench_model(name, args, Path(folder))
            infos.append(info)
            rows += model_rows
            for row in model_rows:
                print(format_row(row), flush=True)
            print(f"{name}: ONNX export {info['export_s']:.1f} s, {info['onnx_mib']:.0f} MiB", flush=True)
            gc.collect()
    torch.set_num_threads(threads_before)
    load_end = os.getloadavg()[0]
    print(f"load average at the end {load_end:.2f}")
    for name in args.models:
        mine = [r for r in rows if r["model"] == name]
        best = min((r for r in mine if not r["runtime"].startswith("eager")), key=lambda r: r["ms"])
        eager = min((r for r in mine if r["runtime"] == "eager"), key=lambda r: r["ms"])
        print(f"{name}: fastest {best['runtime']} ({best['threads']} threads, level {best['level']}) "
              f"{best['ms']:.1f} ms, {eager['ms'] / best['ms']:.2f}x eager's fastest ({eager['threads']} "
              f"threads, {eager['ms']:.1f} ms)")
    if args.json:
        data = {"device": cpu, "torch": torch.__version__, "onnxruntime": ort.__version__,
                "repeats": args.repeats, "preset_repeats": args.preset_repeats,
                "load_average": [load_start, load_end], "models": infos,
                "rows": rows}
        atomic_write_text(json.dumps(data, indent=2) + "\n", args.json)


if __name__ == "__main__":
    main()
