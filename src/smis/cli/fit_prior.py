"""`smis-fit-prior MODEL -o OUT`: fit a model's appearance prior on its training data and write
the model with it (new looks are then drawn from the training set's looks, not N(0, I); see
smis.networks.prior). Hydra overrides choose the data as for smis-evaluate:

    smis-fit-prior logs/train/runs/DATE/model.pt -o model.pt --overwrite
    smis-fit-prior model.pt -o with_prior.pt dataset=cityscapes dataset.root=/data/cityscapes
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from ..networks.prior import DEFAULT_TEMPERATURE
from . import prog


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog=prog("smis.cli.fit_prior"), description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a model file, a training checkpoint or a shipped model's name")
    p.add_argument("-o", "--out", type=Path, required=True, help="the model file to write")
    p.add_argument("overrides", nargs="*", help="Hydra overrides choosing the data, e.g. dataset=folder "
                   "dataset.root=DIR (default: the model's own dataset)")
    p.add_argument("--images", type=int, default=512, help="training images to encode (default 512)")
    p.add_argument("--bandwidth", type=float, default=0.0,
                   help="noise added to a drawn code, in units of the class's spread, in [0, 1] "
                        "(default 0: the training looks as encoded)")
    p.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE,
                   help="the draws' distance from each class's mean code relative to the training codes', "
                        f"in [0, 1] (default {DEFAULT_TEMPERATURE}: a little less varied than the data, "
                        "fewer colours outside its range)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    args = p.parse_intermixed_args(argv)       # overrides may come after the options
    from ..appearance import fit_model_prior  # after parsing: --help stays fast (no Hydra)

    try:
        out = fit_model_prior(args.model, args.out, args.overrides, args.images, args.bandwidth,
                              args.temperature, overwrite=args.overwrite)
    except (OSError, ValueError, HydraException, OmegaConfBaseException) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
