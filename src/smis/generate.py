"""Every SMIS application from the command line (`python -m smis.generate` or `smis-generate`).

    smis-generate sample      -m MODEL labels/ --seeds 0 1 2 -o out/
    smis-generate resample    -m MODEL street.png --classes car --seeds 1 2 3 [--codes look.codes] -o out/
    smis-generate encode      -m MODEL --image photo.jpg --label photo.png -o photo.codes
    smis-generate transfer    -m MODEL street.png --reference photo.codes --classes sky -o out/
    smis-generate interpolate -m MODEL street.png --from-seed 0 --to-seed 1 --steps 8 -o out/
    smis-generate manipulate  -m MODEL edited.png --codes look.codes -o out/
    smis-generate dataset     -m MODEL labels/ --samples 4 -o synthetic_data/

LABEL arguments are files or folders of label maps (PNG: class ids, the dataset's file values, or
the palette's colours). Each input gets its PNGs and a labelled contact sheet (label map, then
the images with what made them); interpolate also writes a GIF; `dataset` writes an image folder
(images/, labels/, classes.yaml) that `dataset=folder` trains on. MODEL: an smis model file, a
training checkpoint, or the authors' folder with --dataset.

A command's outputs appear all together or not at all: every input is read before anything is
decoded, everything is written into a hidden folder beside -o, and moved into place at the end;
an error (exit 2), Ctrl+C or SIGTERM leaves -o exactly as it was. An existing output file is
replaced only with --overwrite (then all of them together, at the end).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import yaml
from PIL import Image
from rich.progress import Progress

from .cli import prog
from .inputs import MAX_PIXELS
from .latents import MAX_STEPS, check_seeds, check_steps
from .networks.prior import PRIOR_CHOICES
from .outputs import StagedOutput
from .synthesizer import Codes, Result, Synthesizer
from .utils import atomic_write, atomic_write_text
from .visualize import labelled_sheet

LABEL_SUFFIXES = {".png", ".bmp", ".tif", ".tiff", ".gif"}


def label_files(inputs: list[Path]) -> list[Path]:
    """Files as given; folders -> their label images, sorted; a clear error for anything else."""
    found = []
    for path in inputs:
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in LABEL_SUFFIXES)
            if not files:
                kinds = ", ".join(sorted(LABEL_SUFFIXES))
                raise FileNotFoundError(f"{path}: no label maps ({kinds}) in this folder")
            found += files
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"label map not found: {path}")
    return found


def parse_size(text: str | None):
    if text is None or text == "input":
        return text
    h, _, w = text.lower().partition("x")
    try:
        return int(h), int(w or h)
    except ValueError:
        message = f"size must be HxW (e.g. 256x512) or 'input'; got {text!r}"
        raise argparse.ArgumentTypeError(message) from None


def check_options(synth: Synthesizer, args) -> None:
    """The numeric options' ranges, before any input is read: a ValueError naming the option."""
    if args.size not in (None, "input"):
        try:
            synth._size(args.size)
        except (ValueError, TypeError) as e:
            raise ValueError(f"--size {args.size[0]}x{args.size[1]}: {e}") from None
    if args.command == "interpolate":
        check_steps(args.steps, "--steps")
    if args.command == "dataset" and args.samples < 1:
        raise ValueError(f"--samples {args.samples}: expected an integer >= 1 (images per label map)")
    for name in ("seeds", "base_seed", "from_seed", "to_seed"):
        if hasattr(args, name):
            value = getattr(args, name)
            check_seeds(value if isinstance(value, list) else [value], f"--{name.replace('_', '-')}")
    if args.command == "dataset":
        check_seeds([args.base_seed + args.samples - 1], "--base-seed + --samples - 1")


def write_result(synth: Synthesizer, result: Result, out: Path, name: str) -> list[Path]:
    """PNGs and a labelled contact sheet for one input."""
    paths = result.save(out, prefix=name)
    captions = ["label map"] + result.captions
    pictures = [synth.colorize(result.codes[0].label)] + list(result.images)
    paths.append(labelled_sheet(pictures, captions, out / f"{name}_sheet.png"))
    return paths


def run(args) -> list[Path]:
    if args.max_pixels < 64 * 64:
        raise ValueError(f"--max-pixels {args.max_pixels}: expected at least {64 * 64} (one 64x64 image)")
    synth = Synthesizer.load(args.model, device=args.device, dataset=args.dataset, prior=args.prior,
                             max_pixels=args.max_pixels)
    check_options(synth, args)
    files = check_inputs(synth, args)                   # every input read before anything is decoded
    with StagedOutput(args.out, folder=args.command != "encode", overwrite=args.overwrite,
                      tool="smis-generate") as stage:       # all the outputs, or none
        if args.command == "encode":
            synth.encode(args.image, args.label, size=args.size).save(stage.path)
        else:
            with Progress(transient=False) as progress:
                task = progress.add_task(f"{args.command}", total=len(files))
                for path in files:
                    stage.check(one_input(synth, args, path, stage.path))   # an existing output: stop now
                    progress.update(task, advance=1)
        return stage.commit()


def check_inputs(synth: Synthesizer, args) -> list[Path]:
    """Read every input before anything is decoded: class names, codes files, and every label map
    at the size it will be used, so a bad one stops the command before any work. -> the label
    map files."""
    if args.command == "encode":
        return []
    if getattr(args, "classes", None):
        synth.class_ids(args.classes)                   # unknown class names: an error now
    looks = {}                                          # codes files that give the starting looks
    for option in ("codes", "reference", "from_codes", "to_codes"):
        given = getattr(args, option, None)
        if given is not None:
            codes = Codes.load(given)
            synth.check_codes(codes, f"the codes in {given}")
            if option != "reference":
                looks[option] = codes
    seeded = args.command in ("sample", "dataset") or \
        (args.command in ("resample", "transfer") and args.codes is None) or \
        (args.command == "interpolate" and (args.from_codes is None or args.to_codes is None))
    sizes = [tuple(c.label.shape[2:]) for c in looks.values()] + ([args.size] if seeded else [])
    files = label_files(args.labels)
    stems: dict[str, Path] = {}
    for path in files:
        if path.stem in stems:
            raise ValueError(f"{stems[path.stem]} and {path} would write the same output files "
                             f"({path.stem}_...): rename one")
        stems[path.stem] = path
        for size in dict.fromkeys(sizes):
            synth.label(path, size)
    return files


def start_codes(synth: Synthesizer, args, path: Path) -> Codes:
    """The codes to edit, on this label map: --codes, or seed --base-seed's."""
    if args.codes is not None:
        return synth.manipulate(path, Codes.load(args.codes)).codes[0]
    return synth.sample(path, [args.base_seed], size=args.size).codes[0]


def one_input(synth: Synthesizer, args, path: Path, out: Path) -> list[Path]:
    name, command = path.stem, args.command
    if command == "sample":
        return write_result(synth, synth.sample(path, args.seeds, size=args.size), out, name)
    if command == "resample":
        codes = start_codes(synth, args, path)
        result = synth.resample(args.classes, args.seeds, codes)
        return write_result(synth, result, out, name)
    if command == "transfer":
        result = synth.transfer(start_codes(synth, args, path), Codes.load(args.reference), args.classes)
        return write_result(synth, result, out, name)
    if command == "interpolate":
        size = args.size
        a, b = (synth.manipulate(path, Codes.load(given)).codes[0] if given
                else synth.sample(path, [seed], size).codes[0]
                for given, seed in ((args.from_codes, args.from_seed), (args.to_codes, args.to_seed)))
        result = synth.interpolate(a, b, args.steps, args.classes)
        return [*write_result(synth, result, out, name), result.save_gif(out / f"{name}.gif")]
    if command == "manipulate":
        return write_result(synth, synth.manipulate(path, Codes.load(args.codes)), out, name)
    if command == "dataset":
        return write_dataset_item(synth, args, path, out)
    raise ValueError(f"unknown command {command!r}")


def write_dataset_item(synth: Synthesizer, args, path: Path, out: Path) -> list[Path]:
    """args.samples images for one label map, in the `folder` dataset layout."""
    seeds = [args.base_seed + i for i in range(args.samples)]
    result = synth.sample(path, seeds, size=args.size)
    ids = result.codes[0].label[0, 0].numpy()
    dtype = np.uint8 if synth.spec.num_classes <= 256 else np.uint16
    written = []
    for seed, image in zip(seeds, result.images):
        stem = f"{path.stem}_s{seed}"
        written.append(atomic_write(out / "images" / f"{stem}.png", lambda f, im=image: im.save(f, "PNG")))
        label = Image.fromarray(ids.astype(dtype))
        written.append(atomic_write(out / "labels" / f"{stem}.png", lambda f, im=label: im.save(f, "PNG")))
    spec = synth.spec
    meta = {"name": spec.name, "num_classes": spec.num_classes, "names": list(spec.names),
            "palette": [list(rgb) for rgb in spec.palette]}
    written.append(atomic_write_text(yaml.safe_dump(meta, sort_keys=False), out / "classes.yaml"))
    return written


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog("smis.generate"), description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-m", "--model", required=True,
                        help="smis model file, training checkpoint, the authors' folder (with --dataset), or "
                             "a shipped model's name (synthetic)")
    common.add_argument("--dataset", default=None,
                        help="for the authors' folders: deepfashion, cityscapes or ade20k")
    common.add_argument("-o", "--out", required=True, type=Path,
                        help="output folder (encode: the codes file)")
    common.add_argument("--size", type=parse_size, default=None,
                        help="HxW (multiples of 64), 'input' (the label's own size); default: the model's")
    common.add_argument("--device", default="auto",
                        help="cpu, cuda, cuda:1, ... (default: cuda when there is one)")
    common.add_argument("--max-pixels", type=int, default=MAX_PIXELS,
                        help=f"the largest label map or photo, in pixels, as given and at --size (default "
                             f"{MAX_PIXELS}: 4096x4096)")
    common.add_argument("--overwrite", action="store_true",
                        help="replace output files that already exist (all together, once every output is "
                             "made); without it an existing output file stops the command, nothing written")
    common.add_argument("--prior", default="auto", choices=PRIOR_CHOICES,
                        help="where seeds' looks come from: auto (the model's fitted appearance prior when "
                             "it has one, else N(0, I)), fitted, normal (N(0, I), the authors')")

    def command(name: str, help: str, labels: bool = True) -> argparse.ArgumentParser:
        c = sub.add_parser(name, parents=[common], help=help, description=help)
        if labels:
            c.add_argument("labels", nargs="+", type=Path, help="label map files or folders")
        return c

    c = command("sample", "images from seeded codes, one per seed")
    c.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3],
                   help="one image per seed; a seed names a look (default: 0 1 2 3)")
    c = command("resample", "new looks for some classes only, one per seed")
    c.add_argument("--classes", nargs="+", required=True, help="class names (or ids)")
    c.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3],
                   help="one image per seed: the new look of the classes (default: 1 2 3)")
    c.add_argument("--codes", type=Path, help="start from this codes file (default: --base-seed's codes)")
    c.add_argument("--base-seed", type=int, default=0, help="the seed of the starting look (default: 0)")
    c = command("encode", "a photo and its label map -> a codes file", labels=False)
    c.add_argument("--image", required=True, type=Path, help="the photo")
    c.add_argument("--label", required=True, type=Path, help="its label map")
    c = command("transfer", "copy some classes' looks from a reference codes file")
    c.add_argument("--reference", required=True, type=Path, help="codes file (smis-generate encode)")
    c.add_argument("--classes", nargs="+", required=True, help="class names (or ids) whose look to copy")
    c.add_argument("--codes", type=Path, help="start from this codes file (default: --base-seed's codes)")
    c.add_argument("--base-seed", type=int, default=0, help="the seed of the starting look (default: 0)")
    c = command("interpolate", "morph from one look to another (PNGs, a contact sheet and a GIF)")
    c.add_argument("--from-seed", type=int, default=0, help="the first look's seed (default: 0)")
    c.add_argument("--to-seed", type=int, default=1, help="the last look's seed (default: 1)")
    c.add_argument("--from-codes", type=Path, help="the first look from a codes file instead of a seed")
    c.add_argument("--to-codes", type=Path, help="the last look from a codes file instead of a seed")
    c.add_argument("--steps", type=int, default=8,
                   help=f"images from the first look to the last, both included: 2 to {MAX_STEPS} "
                        "(default: 8)")
    c.add_argument("--classes", nargs="+", default=None, help="only these classes morph (default: all)")
    c = command("manipulate", "generate edited label maps with the looks of a codes file")
    c.add_argument("--codes", type=Path, required=True, help="the codes file whose looks to keep")
    c = command("dataset", "N samples per label map, as an image folder (images/, labels/, classes.yaml)")
    c.add_argument("--samples", type=int, default=4, help="images per label map, at least 1 (default: 4)")
    c.add_argument("--base-seed", type=int, default=0, help="the first seed; each image takes the next")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        written = run(args)
    except (ValueError, OSError, TypeError) as e:    # OSError: a missing input, an existing output, full disk
        system = isinstance(e, OSError) and e.strerror and e.filename
        print(f"error: {f'{e.filename}: {e.strerror}' if system else e}", file=sys.stderr)
        return 2
    if len(written) == 1:
        print(f"wrote {written[0].resolve()}")
    else:
        print(f"wrote {len(written)} files to {args.out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
