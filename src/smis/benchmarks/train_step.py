"""One full GroupDNet training step, timed per preset and configuration; and one-image decodes.

    python -m smis.benchmarks.train_step --presets small --variants authors 32-true bf16-mixed
    python -m smis.benchmarks.train_step --variants authors 32-true bf16-mixed 16-mixed \\
        bf16-mixed+channels_last bf16-mixed+compile          # the GPU table (presets at the authors' widths)

A step is GroupDNetModule.training_step outside Lightning: the module's own `generator_step`
(GAN, feature matching, VGG, KL; the discriminator's weights frozen) and `discriminator_step`
(on a fresh fake made without gradient), each with its Adam optimiser from
`configure_optimizers`. VGG19 has random weights (same cost as the real ones). Inputs are
random images and label maps of Voronoi blobs (up to 20 classes per image; Cityscapes also gets
instance ids). Reports the median over --steps after --warmup steps (which absorb --compile).

Peak memory: on CUDA torch.cuda.max_memory_allocated; on a CPU the growth of the process's peak
RSS, which stays 0 when an earlier configuration already reached a higher peak.
A configuration that fails (out of memory, no bf16) shows its error and the others still run.

--decode also times decoding one image at the preset's size (eval mode, no gradients), in fp32
and under bf16 autocast: what an interactive edit costs.

JSON (--json): {"device", "torch", "steps", "warmup", "vgg", "peak_memory", "rows": [{"preset",
"size", "batch", "encoder", "precision", "channels_last", "compile", "ms_per_step", "images_per_s",
"peak_memory_mib", "error"}], "decode": [{"preset", "size", "precision", "ms"}]}, with null for
what a failed configuration did not measure.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import platform
import resource
import sys
import types
from pathlib import Path

import torch
from omegaconf import OmegaConf

from ..config import CONFIG_DIR
from ..data.builtin_specs import SPECS
from ..data.synthetic import voronoi_labels
from ..networks import preset as model_preset
from ..training import GroupDNetModule
from ..training.options import LossOptions, OptimOptions
from ..utils import atomic_write_text, size_type
from .timing import median_ms

# per preset, the native size of the dataset that trains with it and that dataset's per-GPU batch
SPEC_OF = {spec.model_preset: spec for spec in SPECS.values()}
SIZES = {preset: tuple(spec.native_size) for preset, spec in SPEC_OF.items()}
BATCHES = {preset: OmegaConf.load(CONFIG_DIR / "dataset" / f"{spec.name}.yaml").batch_size
           for preset, spec in SPEC_OF.items()}
DTYPES = {"32-true": None, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}
# the optimiser and loss settings training uses with the authors' presets (the options' defaults)
OPTIM, LOSS = dataclasses.asdict(OptimOptions()), dataclasses.asdict(LossOptions())
COLUMNS = (("preset", 11), ("size", 7), ("batch", 5), ("encoder", 7), ("precision", 10),
           ("channels_last", 13),
           ("compile", 7), ("ms/step", 9), ("images/s", 8), ("peak memory", 13))
NUMERIC = {"batch", "ms/step", "images/s", "peak memory"}   # right-aligned


def peak_rss_mib() -> float:
    """The process's peak resident memory so far (Linux reports KiB, macOS bytes)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU ({torch.get_num_threads()} threads)"


def parse_variant(text: str) -> dict:
    """'authors' or PRECISION[+channels_last][+compile] -> the settings of one configuration.
    'authors' is the authors' algorithm: fp32, no compile, their loop crops + the full encoder, dense
    conditional-norm convs."""
    if text == "authors":
        return {"precision": "32-true", "channels_last": False, "compile": False, "encoder": "authors"}
    precision, *flags = text.split("+")
    if precision not in DTYPES or not set(flags) <= {"channels_last", "compile"}:
        raise argparse.ArgumentTypeError(f"variant {text!r}: expected 'authors' or PRECISION[+channels_last]"
                                         f"[+compile] with PRECISION one of {list(DTYPES)}")
    return {"precision": precision, "channels_last": "channels_last" in flags, "compile": "compile" in flags,
            "encoder": "present"}


def preset_config(name: str, args):
    """The preset, with --norm-rule when given (the shipped synthetic model uses fixed32)."""
    return model_preset(name, norm_rule=args.norm_rule) if args.norm_rule else model_preset(name)


def build_step(name: str, size: tuple[int, int], batch: int, variant: dict, args, device: torch.device):
    """A fresh module for one configuration, and its training step: -> (step(i), module). step(i)
    runs the module's own G and D steps on fixed inputs (as in training_step), with noise seed i.
    args: no_vgg, norm_rule and deferred_finite_check as the command line gives them."""
    dtype = DTYPES[variant["precision"]]
    if dtype == torch.bfloat16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise RuntimeError("bf16 is not supported on this GPU")
    loss = {**LOSS, "vgg": 0.0 if args.no_vgg else LOSS["vgg"], "vgg_weights": "random"}
    module = GroupDNetModule(preset_config(name, args).to_dict(), OPTIM, loss,
                             finite_check_every=2 if args.deferred_finite_check else 1).to(device)
    net = module.net
    if variant["encoder"] == "authors":
        module.use_authors_paths()
    if variant["channels_last"]:
        module.to(memory_format=torch.channels_last)
    if variant["compile"]:
        torch._dynamo.reset()   # a fresh cache per configuration: no recompile limit, no stale guards
        # the encoder's present-class path has data-dependent shapes: it stays eager
        for m in (net.generator, net.discriminator):
            m.compile()
    opt_g, opt_d = module.configure_optimizers()
    # one scaler for both losses, updated once per step; a no-op pass-through unless fp16
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

    def scaled(opt):
        """The optimiser as the step functions call it (opt.zero_grad, opt.step), with step()
        going through the scaler, as Lightning's 16-mixed precision plugin does."""
        return types.SimpleNamespace(zero_grad=opt.zero_grad, step=lambda: scaler.step(opt))

    h, w = size
    label, instance = voronoi_labels(batch, net.config.num_classes, h, w)
    label = label.to(device)
    instance = instance.to(device) if net.config.instance_edges else None
    image = torch.rand(batch, 3, h, w, device=device) * 2 - 1
    if variant["channels_last"]:
        image = image.contiguous(memory_format=torch.channels_last)

    def autocast():
        return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)

    def backward(loss: torch.Tensor) -> None:
        scaler.scale(loss).backward()

    def step(i: int) -> None:
        """The module's own G and D steps (as in training_step), under autocast."""
        noise = torch.Generator(device=device).manual_seed(i)
        with autocast():
            _, fake, _ = module.generator_step(scaled(opt_g), image, label, instance, noise, backward)
            module.discriminator_step(scaled(opt_d), image, label, instance, noise, fake, backward)
        scaler.update()

    return step, module


def measure(name: str, size: tuple[int, int], batch: int, variant: dict, args,
            device: torch.device) -> dict:
    """Build a fresh module for one configuration and time its training steps."""
    rss_before = peak_rss_mib()
    step, module = build_step(name, size, batch, variant, args, device)
    for i in range(args.warmup):
        step(i)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    seeds = iter(range(args.warmup, args.warmup + args.steps))           # each step its own noise
    ms = median_ms(lambda: step(next(seeds)), args.steps, device)
    module.read_finite()                # with --deferred-finite-check: the one read of the check
    memory = (torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda"
              else peak_rss_mib() - rss_before)
    return {"ms_per_step": ms, "images_per_s": batch / (ms / 1000), "peak_memory_mib": memory}


def decode_ms(name: str, size: tuple[int, int], precision: str, args, device: torch.device) -> float:
    """Median time of decoding one image from a fresh code (eval mode, no gradients)."""
    from ..networks import GroupDNet

    net = GroupDNet(preset_config(name, args), with_discriminator=False).to(device).eval()
    label, instance = voronoi_labels(1, net.config.num_classes, *size)
    label = label.to(device)
    instance = instance.to(device) if net.config.instance_edges else None
    dtype = DTYPES[precision]
    with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        def decode() -> None:
            net.decode(label, net.sample_z(1, *size, device=device), instance)

        for _ in range(args.warmup):
            decode()
        return median_ms(decode, args.steps, device)


def run(name: str, size: tuple[int, int], batch: int, variant: dict, args, device) -> dict:
    """One table row; a failure becomes the row's error instead of ending the benchmark."""
    row = {"preset": name, "size": f"{size[0]}x{size[1]}", "batch": batch, **variant,
           "ms_per_step": None, "images_per_s": None, "peak_memory_mib": None, "error": None}
    try:
        row.update(measure(name, size, batch, variant, args, device))
    except Exception as e:   # e.g. out of memory: report it and go on with the next configuration
        lines = str(e).strip().splitlines()
        row["error"] = f"{type(e).__name__}: {lines[0] if lines else ''}"
    # the exception (and its frames' tensors) is gone here: give its memory back before the next row
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return row


def table_line(cells: list[str]) -> str:
    return "  ".join(c.rjust(w) if h in NUMERIC else c.ljust(w) for c, (h, w) in zip(cells, COLUMNS))


def format_row(row: dict, device: torch.device) -> str:
    cells = [row["preset"], row["size"], str(row["batch"]), row["encoder"], row["precision"],
             "yes" if row["channels_last"] else "no", "yes" if row["compile"] else "no"]
    if row["error"]:
        return table_line(cells) + "  " + row["error"][:200]
    memory = row["peak_memory_mib"]
    cells += [f"{row['ms_per_step']:.1f}", f"{row['images_per_s']:.2f}",
              f"{memory:.0f} MiB" if device.type == "cuda" else f"+{memory:.0f} MiB RSS"]
    return table_line(cells)


def speedups(rows: list[dict]) -> list[str]:
    """Per preset: the fastest configuration against the authors' algorithm, when both ran."""
    lines = []
    for preset_name in dict.fromkeys(r["preset"] for r in rows):
        ran = [r for r in rows if r["preset"] == preset_name and r["error"] is None]
        base = next((r for r in ran if r["encoder"] == "authors"), None)
        if base is None or len(ran) < 2:
            continue
        best = max(ran, key=lambda r: r["images_per_s"])
        flags = "+".join([best["precision"]] + [k for k in ("channels_last", "compile") if best[k]])
        lines.append(f"{preset_name}: best {flags} {best['images_per_s'] / base['images_per_s']:.2f}x the "
                     f"authors' algorithm's images/s, peak memory {best['peak_memory_mib']:.0f} vs "
                     f"{base['peak_memory_mib']:.0f} MiB")
    return lines


def write_json(path: Path, data: dict) -> None:
    """Atomically: a reader never sees half a file, an interrupted run leaves the old one."""
    atomic_write_text(json.dumps(data, indent=2) + "\n", path)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m smis.benchmarks.train_step", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", nargs="+", choices=sorted(SIZES), default=None,
                   help="default: deepfashion cityscapes ade20k small on CUDA; small on a CPU "
                        "(the authors' widths are far too slow there)")
    p.add_argument("--variants", nargs="+", type=parse_variant, default=[parse_variant("32-true")],
                   metavar="VARIANT",
                   help="configurations to time: PRECISION[+channels_last][+compile] (precisions: "
                        f"{', '.join(DTYPES)}), or 'authors' (the authors' algorithm: fp32, their loop "
                        "crops and the full encoder); default 32-true")
    p.add_argument("--batch", type=int, default=None,
                   help="default: the per-GPU batch of the preset's dataset config (the authors': "
                        "deepfashion 2, cityscapes and ade20k 1; synthetic scenes 8)")
    p.add_argument("--size", type=size_type(), default=None,
                   help="HxW, default: the native size of the preset's dataset (its spec)")
    p.add_argument("--no-vgg", action="store_true", help="leave the VGG loss out (weight 0)")
    p.add_argument("--norm-rule", default=None, choices=["fixed128", "fixed64", "fixed32"],
                   help="the conditional norms' rule (small preset only; default: the preset's)")
    p.add_argument("--decode", action="store_true", help="also time decoding one image per preset")
    p.add_argument("--deferred-finite-check", action="store_true",
                   help="read the losses' NaN/inf check once after the timed steps instead of in every "
                        "step (training's finite_check_every > 1: no host read-back in a step)")
    p.add_argument("--steps", type=int, default=5, help="timed steps (median)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--json", type=Path, default=Path("results/benchmarks/train_step.json"))
    args = p.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        p.error("--steps must be at least 1 and --warmup at least 0")
    device = torch.device(args.device)
    # the authors' widths are far too slow for a CPU
    presets = args.presets or (list(SIZES) if device.type == "cuda" else ["small"])

    name = device_name(device)
    print(f"device {device}: {name}; torch {torch.__version__}; {args.warmup} warm-up + {args.steps} "
          f"timed steps; VGG loss {'off' if args.no_vgg else 'on'}")
    print(table_line([h for h, _ in COLUMNS]))
    rows = []
    for preset_name in presets:
        size = args.size or SIZES[preset_name]
        batch = args.batch or BATCHES[preset_name]
        for variant in args.variants:
            rows.append(run(preset_name, size, batch, variant, args, device))
            print(format_row(rows[-1], device), flush=True)
    for line in speedups(rows):
        print(line)
    decodes = []
    if args.decode:
        for preset_name in presets:
            size = args.size or SIZES[preset_name]
            for precision in ("32-true", "bf16-mixed"):
                ms = decode_ms(preset_name, size, precision, args, device)
                decodes.append({"preset": preset_name, "size": f"{size[0]}x{size[1]}", "precision": precision,
                                "ms": ms})
                print(f"decode one image: {preset_name} {size[0]}x{size[1]} {precision}: {ms:.1f} ms",
                      flush=True)

    write_json(args.json, {
        "device": name, "torch": torch.__version__, "steps": args.steps, "warmup": args.warmup,
        "vgg": not args.no_vgg, "deferred_finite_check": args.deferred_finite_check,
        "peak_memory": ("torch.cuda.max_memory_allocated" if device.type == "cuda"
                        else "growth of the process's peak RSS (ru_maxrss)"),
        "rows": rows, "decode": decodes})
    print(f"wrote {args.json.resolve()}")


if __name__ == "__main__":
    main()
