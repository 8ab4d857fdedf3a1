"""`smis-examples DEST` (also `python -m smis.cli.examples DEST`): copy the example label maps and photos
into DEST/labels and DEST/photos; with --scenes N, write N scenes of the built-in synthetic data as
an image folder (DEST/images, DEST/labels, DEST/classes.yaml) that `dataset=folder dataset.root=DEST`
trains on."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..examples import copy_to
from . import prog


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog=prog("smis.cli.examples"), description=__doc__)
    p.add_argument("dest", type=Path, help="folder to write into (made if needed)")
    p.add_argument("--scenes", type=int, default=None, metavar="N",
                   help="write N synthetic training scenes (an image folder) instead of the examples")
    p.add_argument("--size", type=int, default=128, help="with --scenes: the side of each scene in pixels")
    p.add_argument("--seed", type=int, default=0, help="with --scenes: which scenes (the data's seed)")
    args = p.parse_args(argv)
    if args.scenes is None:
        written = copy_to(args.dest)
        print(f"wrote {len(written) // 2} example label maps and photos to {args.dest.resolve()} "
              "(labels/, photos/)")
        return
    if args.scenes < 1 or args.size < 1:
        p.error(f"--scenes and --size must be positive integers; got {args.scenes} and {args.size}")
    from ..data.synthetic import export

    out = export(args.dest, args.scenes, args.size, args.seed)
    print(f"wrote {args.scenes} scenes to {out.resolve()} (images/, labels/, classes.yaml)")


if __name__ == "__main__":
    main()
