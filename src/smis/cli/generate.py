"""Every SMIS application from the command line (`smis-generate`, or `python -m smis.generate`).

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

from ..batch import run
from ..inputs import MAX_PIXELS
from ..latents import MAX_STEPS
from ..networks.prior import PRIOR_CHOICES
from ..utils import size_type
from . import prog


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
    common.add_argument("--size", type=size_type("input"), default=None,
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
