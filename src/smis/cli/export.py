"""`smis-export MODEL --format onnx|torchscript`: a trained GroupDNet's generator (and with
--encoder its encoder) as one file to serve without smis, its class names, palette and latent
layout stored inside.

    smis-export synthetic --format onnx                          # synthetic.onnx, 128x128 only
    smis-export synthetic --format onnx --size dynamic --verify  # any HxW, multiples of 64
    smis-export model.pt --format torchscript --encoder -o out/city.ts   # + out/city.encoder.ts

The decoder takes label (B,1,H,W) int64 class ids and z (B, L*C, H/64, W/64) float32, and for
models with instance edges (the Cityscapes preset) instance (B,1,H,W) int64 ids (without instance
maps pass the label map: every class border becomes an edge); it returns image (B,3,H,W) in
[-1, 1]. The encoder takes image and label and returns mu, logvar. See smis/hub/export.py.
--format onnx needs onnx and onnxruntime: pip install "groupdnet[export]".
Exit codes: 0 written; 1 --verify found a difference; 2 a bad argument, a missing model or
dependency, an existing output.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..hub import describe_model, load_model
from ..hub.export import (
    FORMATS,
    SUFFIXES,
    MissingExportDependency,
    export,
    max_difference,
    outputs_of,
    require,
)
from ..outputs import output_problem
from ..utils import size_type
from . import prog

TOLERANCE = 1e-4      # --verify: the largest difference from eager PyTorch accepted (images in [-1, 1])


class VerifyError(Exception):
    """--verify: a written file's outputs differ from eager PyTorch's beyond TOLERANCE."""


def parse_size(text: str):
    """'native', 'dynamic' or HxW (multiples of 64) -> the string or (H, W)."""
    size = size_type("native", "dynamic")(text)
    if isinstance(size, tuple) and (min(size) < 64 or size[0] % 64 or size[1] % 64):
        raise argparse.ArgumentTypeError(f"{text}: both sides must be positive multiples of 64 "
                                         "(GroupDNet upsamples its code 6 times)")
    return size


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog("smis.cli.export"), description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a shipped model's name (synthetic), a model file (a run's model.pt, "
                                 "smis-convert output), a training checkpoint or a folder of the "
                                 "authors' files (with --dataset)")
    p.add_argument("--format", required=True, choices=FORMATS,
                   help="onnx (for onnxruntime and other runtimes) or torchscript (torch.jit.load)")
    p.add_argument("-o", "--out", type=Path, default=None,
                   help="the decoder's file (default: MODEL's name + .onnx or .ts in the current "
                        "folder); the encoder goes beside it as NAME.encoder.SUFFIX")
    p.add_argument("--size", type=parse_size, default="native",
                   help="HxW the graph takes (multiples of 64), 'native' (the model's dataset size, "
                        "the default) or 'dynamic' (any multiples of 64). The batch is always free. "
                        "A TorchScript trace takes any size; there --size is only recorded")
    p.add_argument("--encoder", action="store_true",
                   help="also export the encoder (image, label -> mu, logvar), to NAME.encoder.SUFFIX")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--verify", action="store_true",
                   help=f"run the written files on random inputs and compare with eager PyTorch "
                        f"(fails above {TOLERANCE:g}; ONNX needs onnxruntime)")
    p.add_argument("--dataset", default=None,
                   help="for a folder of the authors' files: deepfashion, cityscapes or ade20k")
    p.add_argument("--no-ema", action="store_true",
                   help="from a training checkpoint, the trained generator, not its EMA")
    return p


def default_out(model: str, fmt: str) -> Path:
    """synthetic -> synthetic.onnx; runs/x/model.pt -> model.onnx (in the current folder)."""
    return Path(Path(model.rstrip("/")).stem or "model").with_suffix(SUFFIXES[fmt])


def run(args) -> list[Path]:
    """Export as `args` say; user errors raise ValueError, OSError (FileNotFoundError,
    FileExistsError, ...) or MissingExportDependency with a message naming the option or file."""
    out = args.out or default_out(args.model, args.format)
    for path in outputs_of(out, args.encoder):          # before loading: a mistake costs nothing
        problem = output_problem(path)
        if problem:
            raise ValueError(f"--out: {problem}")
        if path.exists() and not args.overwrite:
            raise FileExistsError(f"{path} exists (pass --overwrite to replace it)")
    if args.format == "onnx":
        require("onnx", "--format onnx")
        if args.verify:
            require("onnxruntime", "--verify of an ONNX file")
    net = load_model(args.model, args.dataset, prefer_ema=not args.no_ema, with_discriminator=False)
    size = args.size
    if size == "native":
        if net.spec is None:
            raise ValueError(f"{describe_model(args.model)} carries no dataset spec, so no native size: "
                             "pass --size HxW or --size dynamic")
        size = tuple(net.spec.native_size)
    size = None if size == "dynamic" else size
    paths = export(net, out, args.format, size, with_encoder=args.encoder, overwrite=args.overwrite)
    shown = "any HxW (multiples of 64)" if size is None else f"{size[0]}x{size[1]}"
    for path in paths:
        print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB, {args.format}, {shown})")
    if args.verify:
        for path in paths:
            difference = max_difference(net, path, size=None if size else (128, 192))
            verdict = "ok" if difference <= TOLERANCE else "TOO LARGE"
            print(f"{path}: max abs difference from eager PyTorch {difference:.2e} ({verdict})")
            if difference > TOLERANCE:
                raise VerifyError(f"{path} differs from eager PyTorch by {difference:.2e} > {TOLERANCE:g}")
    return paths


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        run(args)
    except (ValueError, OSError, MissingExportDependency) as e:   # OSError: missing model, existing output
        print(f"error: {e}", file=sys.stderr)
        return 2
    except VerifyError as e:        # the files are written, but wrong
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
