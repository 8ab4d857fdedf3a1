"""`make demo` (`smis-demo`, `python -m smis.demo`): train the small GroupDNet on synthetic scenes on
the CPU for a few minutes, then show what per-class codes do, on scenes it never saw, for that
model and (in shipped/) for the model smis ships (`smis.load_pretrained("synthetic")`, trained for
longer): the figures and control metrics of smis.showcase.

    python -m smis.demo [--out results/demo] [Hydra overrides, e.g. optim.constant_epochs=5]
    python -m smis.demo --shipped-only --out docs/shipped      # the docs' figures of the shipped model
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..config import compose_config
from ..hub import load_pretrained
from ..showcase import RESAMPLED, TRANSFERRED, control_metrics, figures
from ..training.runner import train
from . import prog


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog=prog("smis.demo"), description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("results/demo"),
                   help="folder for the figures, metrics and the training run (default: results/demo)")
    p.add_argument("overrides", nargs="*", help="Hydra overrides on top of experiment=demo")
    p.add_argument("--scenes", type=int, default=32, help="held-out scenes for the control metrics")
    p.add_argument("--shipped-only", action="store_true",
                   help="no training: only the shipped model's figures and metrics (the docs' figures)")
    args = p.parse_args(argv)
    t0 = time.time()
    shipped = load_pretrained("synthetic")
    models = {"shipped": ("synthetic", tuple(shipped.spec.native_size),
                          args.out if args.shipped_only else args.out / "shipped")}
    cfg = compose_config(["experiment=demo", *args.overrides], output_dir=args.out / "training",
                         log_dir=args.out)
    if not args.shipped_only:
        print(f"training the small GroupDNet on synthetic scenes ({cfg.dataset.num_train} scenes x "
              f"{cfg.optim.constant_epochs + cfg.optim.decay_epochs} epochs) ...", flush=True)
        result = train(cfg)
        size = cfg.dataset.size
        size = (size, size) if isinstance(size, int) else tuple(size)
        models = {"demo": (result["model_path"], size, args.out), **models}
    trained = time.time() - t0
    metrics = {}
    for name, (model, model_size, folder) in models.items():
        print(f"figures and control metrics of the {name} model ...", flush=True)
        figures(model, folder, model_size, cfg.dataset.scene_seed, cfg.seed)
        metrics[name] = control_metrics(model, model_size, folder / "control", args.scenes)
    out = args.out.resolve()
    if not args.shipped_only:
        print(f"\ntrained in {trained:.0f}s; all done after {time.time() - t0:.0f}s.")
    print(f"On {args.scenes} held-out scenes:")
    print(f"  {'model':8} {'separation':>10} {'inside':>7} {'outside':>7} {'recon L1':>8} {'transfer':>8} "
          f"{'variety':>7}")
    for name, m in metrics.items():
        variety = m.get("looks_ratio")
        print(f"  {name:8} {m['separation']:10.3f} {m['pixel_inside']:7.3f} {m['pixel_outside']:7.3f} "
              f"{m['recon_l1']:8.3f} {m['transfer']:8.0%} " + (f"{variety:7.2f}" if variety is not None and
                                                                 variety == variety else f"{'-':>7}"))
    print("  (separation: pixel change outside a re-drawn class / inside it, lower is better; transfer: "
          "share of pairs where a copied class code carries the reference's colour; variety: the spread of "
          "sampled class colours over the scenes' own, 1 = as varied as the data)")
    where = "" if args.shipped_only else " (the shipped model's figures in shipped/)"
    print(f"\nin {out}{where}:")
    print("  samples.png   label | real | reconstruction | 4 random codes (unseen scenes)")
    print("  resample.png  label | reconstruction | 5 draws of one class's code; rows: "
          + ", ".join(RESAMPLED))
    print(f"  transfer.png  target label | target reconstructed | reference | reference reconstructed | "
          f"target with the reference's {TRANSFERRED}")
    print("  control/      the metrics in metrics.json and metrics.md (per class)")
    if not args.shipped_only:
        print("  training/     checkpoints, model.pt, per-epoch figures in samples/, metrics in csv/")


if __name__ == "__main__":
    main()
