"""One smis-generate command over label-map files and folders (smis/cli/generate.py parses the
command line; this runs it): every input is read and checked before anything is decoded, and the
outputs are staged (smis.outputs.StagedOutput), so they appear all together or not at all.

`args` is the parsed command line (an argparse Namespace): `command` (sample, resample, encode,
transfer, interpolate, manipulate, dataset) and that command's options.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from PIL import Image
from rich.progress import Progress

from .codes import Codes, Result
from .latents import check_seeds, check_steps
from .outputs import StagedOutput
from .synthesizer import Synthesizer
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
    """Load the model, check every input, make and write every output. -> the files written."""
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


