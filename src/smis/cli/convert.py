"""`smis-convert` (`python -m smis.convert`): the authors' released checkpoints as an smis model file.

    smis-convert checkpoints/cityscapes_smis --dataset cityscapes -o cityscapes.smis.pt

The folder holds latest_net_G.pth and latest_net_E.pth (and optionally latest_net_D.pth), as the
authors' `checkpoints/NAME/`. The output loads with `smis.load_model` and the smis commands.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..data.builtin_specs import dataset_spec
from ..hub import load_official, save_model
from ..hub.official import OFFICIAL_DATASETS
from ..outputs import output_problem
from . import prog


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog("smis.convert"), description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", type=Path, help="folder with the authors' latest_net_{G,E[,D]}.pth")
    p.add_argument("--dataset", required=True, choices=OFFICIAL_DATASETS,
                   help="which of the authors' models the files are")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="checkpoint to write (default: FOLDER/smis_DATASET.pt)")
    p.add_argument("--no-discriminator", action="store_true",
                   help="leave the discriminator out (smaller file; enough for generation)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    output = args.output or args.folder / f"smis_{args.dataset}.pt"
    problem = output_problem(output)           # before the (long) conversion
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        net = load_official(args.folder, args.dataset,
                            with_discriminator=False if args.no_discriminator else None)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    c = net.config
    print(f"read {args.folder} as {args.dataset}: {c.num_classes} classes, generator widths "
          f"{list(c.widths)}, encoder width {c.encoder_width}"
          + (f", discriminator ndf {c.ndf}" if net.discriminator is not None else ", no discriminator"))
    if net.spec is None:
        print(f"  note: the {args.dataset} dataset has {dataset_spec(args.dataset).num_classes} classes, "
              "these files fewer: the model file carries no class names or palette")
    for part in ("generator", "encoder", "discriminator"):
        module = getattr(net, part)
        if module is not None:
            print(f"  {part:13s} {sum(p.numel() for p in module.parameters()):>12,d} parameters")
    try:
        save_model(net, output, source=str(args.folder))
    except OSError as e:                       # e.g. a full disk: the previous file, if any, is kept
        print(f"error: cannot write {output}: {e.strerror or e}", file=sys.stderr)
        return 2
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
