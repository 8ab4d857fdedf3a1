"""One full GroupDNet training step, timed per preset and precision.

    python -m smis.benchmarks.train_step --presets small --precision 32-true bf16-mixed

A step is what GroupDNetModule.training_step does, outside Lightning: the generator + encoder
step (GAN, feature matching, VGG, KL; the discriminator's weights frozen), then the
discriminator step on a fresh fake made without gradient, each with its Adam optimiser. The
losses are the module's own; VGG19 has random weights (same cost as the real ones). Inputs are
random images and label maps of Voronoi blobs (up to 20 classes per image; Cityscapes also gets
instance ids). Reports the median over --steps after --warmup steps (which absorb --compile).

Peak memory: on CUDA torch.cuda.max_memory_allocated; on a CPU the growth of the process's peak
RSS, which stays 0 when an earlier configuration already reached a higher peak.
A configuration that fails (out of memory, no bf16) shows its error and the others still run.

JSON (--json): {"device", "torch", "steps", "warmup", "vgg", "peak_memory", "rows": [{"preset",
"size", "batch", "precision", "channels_last", "compile", "ms_per_step", "images_per_s",
"peak_memory_mib", "error"}]}, with null for what a failed configuration did not measure.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

from ..checkpoint import atomic_write_text
from ..networks import preset as model_preset
from ..training import GroupDNetModule

SIZES = {"deepfashion": (256, 256), "cityscapes": (256, 512), "ade20k": (256, 256), "small": (128, 128)}
BATCHES = {"deepfashion": 2, "cityscapes": 1, "ade20k": 1, "small": 4}   # the authors' batch per GPU
DTYPES = {"32-true": None, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}
OPTIM = dict(lr_g=1e-4, lr_d=4e-4, beta1=0.0, beta2=0.9, constant_epochs=1, decay_epochs=0,
             d_reuses_fake=False)
COLUMNS = (("preset", 11), ("size", 7), ("batch", 5), ("precision", 10), ("channels_last", 13),
           ("compile", 7), ("ms/step", 9), ("images/s", 8), ("peak memory", 13))
NUMERIC = {"batch", "ms/step", "images/s", "peak memory"}   # right-aligned


def scene(batch: int, classes: int, height: int, width: int, seed: int = 0):
    """-> label (B,1,H,W) int64 from Voronoi blobs (two per present class), instance = label * 1000
    + blob index, so every blob is its own instance."""
    g = torch.Generator().manual_seed(seed)
    yx = torch.stack(torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij"), -1).float()
    labels, instances = [], []
    for _ in range(batch):
        ids = torch.randperm(classes, generator=g)[:min(classes, 20)].repeat(2)
        centres = torch.rand(len(ids), 2, generator=g) * torch.tensor([height, width])
        blob = ((yx[None] - centres[:, None, None]) ** 2).sum(-1).argmin(0)
        labels.append(ids[blob])
        instances.append(ids[blob] * 1000 + blob)
    return torch.stack(labels)[:, None], torch.stack(instances)[:, None]


def parse_size(text: str) -> tuple[int, int]:
    h, _, w = text.lower().partition("x")
    try:
        return int(h), int(w or h)
    except ValueError:
        msg = f"size must look like 256x512 (height x width); got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def peak_rss_mib() -> float:
    """The process's peak resident memory so far (Linux reports KiB, macOS bytes)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU ({torch.get_num_threads()} threads)"


def set_requires_grad(params, flag: bool) -> None:
    for p in params:
        p.requires_grad_(flag)


def measure(name: str, size: tuple[int, int], batch: int, precision: str, args,
            device: torch.device) -> dict:
    """Build a fresh module for one configuration and time its training steps."""
    dtype = DTYPES[precision]
    if dtype == torch.bfloat16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise RuntimeError("bf16 is not supported on this GPU")
    rss_before = peak_rss_mib()
    loss = dict(gan=1.0, feat=10.0, vgg=0.0 if args.no_vgg else 10.0, kld=0.05, vgg_weights="random")
    module = GroupDNetModule(model_preset(name).to_dict(), OPTIM, loss).to(device)
    net = module.net
    if args.channels_last:
        module.to(memory_format=torch.channels_last)
    if args.compile:
        torch._dynamo.reset()   # a fresh cache per configuration: no recompile limit, no stale guards
        for m in (net.generator, net.encoder, net.discriminator):
            m.compile()
    g_params = [*net.generator.parameters(), *net.encoder.parameters()]
    d_params = list(net.discriminator.parameters())
    opt_g, opt_d = module.configure_optimizers()
    # one scaler for both losses, updated once per step; a no-op pass-through unless fp16
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

    h, w = size
    label, instance = scene(batch, net.config.num_classes, h, w)
    label = label.to(device)
    instance = instance.to(device) if net.config.instance_edges else None
    image = torch.rand(batch, 3, h, w, device=device) * 2 - 1
    if args.channels_last:
        image = image.contiguous(memory_format=torch.channels_last)

    def autocast():
        return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)

    def step(i: int) -> None:
        noise = torch.Generator(device=device).manual_seed(i)
        # G + E: D's weights frozen (as toggle_optimizer does), its input still passes gradients
        set_requires_grad(d_params, False)
        with autocast():
            g_terms, _, _ = module.generator_losses(image, label, instance, noise)
            g_loss = sum(g_terms.values())
        opt_g.zero_grad(set_to_none=True)
        scaler.scale(g_loss).backward()
        scaler.step(opt_g)
        set_requires_grad(d_params, True)

        # D on a fresh fake from the updated G, made without gradient (the authors' order)
        set_requires_grad(g_params, False)
        with autocast():
            with torch.no_grad():
                fake, _, _ = module.generate(image, label, instance, noise)
            d_terms, _, _ = module.discriminator_losses(image, label, instance, fake)
            d_loss = d_terms["d_fake"] + d_terms["d_real"]
        opt_d.zero_grad(set_to_none=True)
        scaler.scale(d_loss).backward()
        scaler.step(opt_d)
        scaler.update()
        set_requires_grad(g_params, True)

    for i in range(args.warmup):
        step(i)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for i in range(args.warmup, args.warmup + args.steps):
        start = time.perf_counter()
        step(i)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    ms = 1000 * statistics.median(times)
    memory = (torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda"
              else peak_rss_mib() - rss_before)
    return {"ms_per_step": ms, "images_per_s": batch / (ms / 1000), "peak_memory_mib": memory}


def run(name: str, size: tuple[int, int], batch: int, precision: str, args, device) -> dict:
    """One table row; a failure becomes the row's error instead of ending the benchmark."""
    row = {"preset": name, "size": f"{size[0]}x{size[1]}", "batch": batch, "precision": precision,
           "channels_last": args.channels_last, "compile": args.compile,
           "ms_per_step": None, "images_per_s": None, "peak_memory_mib": None, "error": None}
    try:
        row.update(measure(name, size, batch, precision, args, device))
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
    cells = [row["preset"], row["size"], str(row["batch"]), row["precision"],
             "yes" if row["channels_last"] else "no", "yes" if row["compile"] else "no"]
    if row["error"]:
        return table_line(cells) + "  " + row["error"][:200]
    memory = row["peak_memory_mib"]
    cells += [f"{row['ms_per_step']:.1f}", f"{row['images_per_s']:.2f}",
              f"{memory:.0f} MiB" if device.type == "cuda" else f"+{memory:.0f} MiB RSS"]
    return table_line(cells)


def write_json(path: Path, data: dict) -> None:
    """Atomically: a reader never sees half a file, an interrupted run leaves the old one."""
    atomic_write_text(json.dumps(data, indent=2) + "\n", path)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m smis.benchmarks.train_step", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", nargs="+", choices=sorted(SIZES), default=None,
                   help="default: deepfashion cityscapes ade20k small on CUDA; small on a CPU "
                        "(the authors' widths are far too slow there)")
    p.add_argument("--precision", nargs="+", choices=list(DTYPES), default=["32-true"])
    p.add_argument("--batch", type=int, default=None,
                   help="default: the authors' per-GPU batch (deepfashion 2, cityscapes and ade20k 1), "
                        "small 4")
    p.add_argument("--size", type=parse_size, default=None,
                   help="HxW, default per preset: deepfashion 256x256, cityscapes 256x512, "
                        "ade20k 256x256, small 128x128")
    p.add_argument("--channels-last", action="store_true", help="channels-last weights and images")
    p.add_argument("--compile", action="store_true", help="torch.compile generator, encoder, discriminator")
    p.add_argument("--no-vgg", action="store_true", help="leave the VGG loss out (weight 0)")
    p.add_argument("--steps", type=int, default=5, help="timed steps (median)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--json", type=Path, default=Path("results/benchmarks/train_step.json"))
    args = p.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        p.error("--steps must be at least 1 and --warmup at least 0")
    device = torch.device(args.device)
    presets = args.presets or (["deepfashion", "cityscapes", "ade20k", "small"] if device.type == "cuda"
                               else ["small"])

    name = device_name(device)
    print(f"device {device}: {name}; torch {torch.__version__}; {args.warmup} warm-up + {args.steps} "
          f"timed steps; VGG loss {'off' if args.no_vgg else 'on'}")
    print(table_line([h for h, _ in COLUMNS]))
    rows = []
    for preset_name in presets:
        size = args.size or SIZES[preset_name]
        batch = args.batch or BATCHES[preset_name]
        for precision in args.precision:
            rows.append(run(preset_name, size, batch, precision, args, device))
            print(format_row(rows[-1], device), flush=True)

    write_json(args.json, {
        "device": name, "torch": torch.__version__, "steps": args.steps, "warmup": args.warmup,
        "vgg": not args.no_vgg,
        "peak_memory": ("torch.cuda.max_memory_allocated" if device.type == "cuda"
                        else "growth of the process's peak RSS (ru_maxrss)"),
        "rows": rows})
    print(f"wrote {args.json.resolve()}")


if __name__ == "__main__":
    main()
