"""`make demo`: train the small GroupDNet on synthetic scenes on the CPU for a few minutes, then
show what per-class codes do, on scenes it never saw, for that model and (in shipped/) for the
model smis ships (`smis.load_pretrained("synthetic")`, trained for longer), with their control
metrics (smis.evaluate metrics=[separation]):

    samples.png    label | real | reconstruction (its encoded codes) | random codes ...
    resample.png   per row: label | reconstruction | only one class's code re-drawn ...
    transfer.png   per row: target label | target reconstructed | reference | reference reconstructed |
                   the target with one class's look (its code) taken from the reference

    python -m smis.demo [--out results/demo] [Hydra overrides, e.g. optim.constant_epochs=5]
    python -m smis.demo --shipped-only --out docs/shipped      # the docs' figures of the shipped model
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .cli import prog
from .config import compose_config
from .data import SYNTHETIC, SyntheticScenes
from .data.datamodules import VAL_OFFSET
from .evaluate import evaluate
from .hub import load_pretrained
from .synthesizer import Synthesizer
from .train import train
from .visualize import colorize, save_grid

RESAMPLED = ("sky", "grass", "road")     # one row each in resample.png
TRANSFERRED = "sky"                      # the class whose look transfer.png copies


def figures(model_path: str | Path, out: Path, size, scene_seed: int = 0, seed: int = 0) -> dict[str, Path]:
    """The three figures, made through smis.Synthesizer on 6 held-out scenes, each with its column
    labels (and resample.png with the class re-drawn in each row)."""
    synth = Synthesizer.load(model_path, device="cpu")
    scenes = SyntheticScenes(6, size, seed=scene_seed, train=False, first_index=VAL_OFFSET + 100)
    pairs = [scenes.scene(i) for i in range(6)]                                  # (image, label)
    encoded = [synth.encode(image, label, size="input") for image, label in pairs]
    recon = synth.decode(encoded, output="tensor")
    shown = [colorize(label[None], SYNTHETIC.palette_tensor())[0] for _, label in pairs]

    rows = []
    for i in range(4):
        seeds = [1000 * seed + 4 * i + j for j in range(4)]
        sampled = synth.sample(pairs[i][1], seeds, size="input", output="tensor").images
        rows.append([shown[i], pairs[i][0], recon[i], *sampled])
    labels = ["label map", "real scene", "reconstruction", *(f"random codes {j + 1}" for j in range(4))]
    paths = {"samples": save_grid(rows, out / "samples.png", labels=labels)}

    rows = []
    for row, name in enumerate(RESAMPLED):
        c = SYNTHETIC.class_index(name)
        order = [(row + j) % len(pairs) for j in range(len(pairs))]              # scene `row` first
        i = next((i for i in order if (pairs[i][1] == c).any()), row)            # ... if it shows c
        seeds = [1000 * seed + 10 * row + j for j in range(5)]
        redrawn = synth.resample([name], seeds, codes=encoded[i], output="tensor").images
        rows.append([shown[i], recon[i], *redrawn])
    labels = ["label map", "reconstruction", *(f"new look {j + 1}" for j in range(5))]
    paths["resample"] = save_grid(rows, out / "resample.png", labels=labels,
                                  row_labels=[f"{name} re-drawn" for name in RESAMPLED])

    rows = []
    for target, reference in [(0, 3), (1, 4), (2, 5)]:
        result = synth.transfer(encoded[target], encoded[reference], [TRANSFERRED], output="tensor").images[0]
        rows.append([shown[target], recon[target], pairs[reference][0], recon[reference], result])
    labels = ["target label map", "target reconstructed", "reference", "reference reconstructed",
              f"target with the reference's {TRANSFERRED}"]
    paths["transfer"] = save_grid(rows, out / "transfer.png", labels=labels)
    return paths


def control_metrics(model: str | Path, size, out: Path, scenes: int = 32) -> dict:
    """The pixel-space control metrics (smis.evaluate metrics=[separation,looks]) on held-out scenes:
    reconstruction and transfer on `scenes`, one-class re-draws and sampled looks on half of them."""
    cfg = compose_config([f"ckpt={model}", "metrics=[separation,looks]", "logger=none", "device=cpu",
                          f"dataset.size=[{size[0]},{size[1]}]", f"dataset.num_val={scenes}",
                          "dataset.num_workers=0", f"separation.label_maps={max(scenes // 2, 1)}",
                          f"looks.label_maps={max(scenes // 2, 1)}"],
                         output_dir=out, log_dir=out, config_name="evaluate")
    return evaluate(cfg)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog=prog("smis.demo"), description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("results/demo"))
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
