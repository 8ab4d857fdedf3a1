"""`smis-pack CHECKPOINT`: write a trained model as the shipped file (fp16, generator and encoder),
refusing if fp16 storage changes a decode by more than 1e-2.

    smis-pack logs/pretrained_synthetic/runs/DATE/checkpoints/last.ckpt --no-ema
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..hub.pack import pack
from ..hub.shipped import SHIPPED, SHIPPED_DIR


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="smis-pack", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, help="a run's model.pt or a training checkpoint (.ckpt)")
    p.add_argument("--name", default="synthetic", choices=sorted(SHIPPED), help="which shipped model")
    p.add_argument("--out", type=Path, default=None, help="default: the packaged file of --name")
    p.add_argument("--no-ema", action="store_true",
                   help="from a checkpoint, the trained generator, not its EMA")
    p.add_argument("--note", action="append", default=[], metavar="KEY=VALUE",
                   help="a model-card fact stored in the file (repeatable)")
    args = p.parse_args(argv)
    meta = dict(note.split("=", 1) for note in args.note)
    out = pack(args.model, args.out or SHIPPED_DIR / SHIPPED[args.name], prefer_ema=not args.no_ema,
               source=str(args.model), **meta)
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
