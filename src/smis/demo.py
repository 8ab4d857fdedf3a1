"""`make demo`: train the small GroupDNet on synthetic scenes on the CPU for a few minutes, then
show what per-class codes do, on scenes it never saw:

    samples.png    label | real | reconstruction (its encoded codes) | random codes ...
    resample.png   per row: label | reconstruction | only one class's code re-drawn ...
    transfer.png   per row: target label | target reconstructed | reference | reference reconstructed |
                   the target with one class's look (its code) taken from the reference

    python -m smis.demo [--out results/demo] [Hydra overrides, e.g. optim.constant_epochs=5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from .checkpoint import load_model
from .config import compose_config
from .data import SYNTHETIC, SyntheticScenes
from .data.datamodules import VAL_OFFSET
from .latents import LatentLayout
from .train import train
from .visualize import colorize, save_grid

RESAMPLED = ("sky", "grass", "road")     # one row each in resample.png
TRANSFERRED = "sky"                      # the class whose look transfer.png copies


@torch.no_grad()
def figures(model_path: Path, out: Path, size, scene_seed: int = 0, seed: int = 0) -> dict[str, Path]:
    net = load_model(model_path)
    layout = LatentLayout.of(net)
    scenes = SyntheticScenes(6, size, seed=scene_seed, train=False, first_index=VAL_OFFSET + 100)
    image, label = (torch.stack(t) for t in zip(*(scenes.scene(i) for i in range(6))))
    palette = SYNTHETIC.palette_tensor()
    shown = colorize(label, palette)
    mu, _ = net.encode(image, label)
    recon = net.decode(label, mu)
    g = torch.Generator().manual_seed(seed)
    H, W = image.shape[2:]

    rows = []
    for i in range(4):
        z = net.sample_z(4, H, W, generator=g)
        rows.append([shown[i], image[i], recon[i], *net.decode(label[i:i + 1].expand(4, -1, -1, -1), z)])
    paths = {"samples": save_grid(rows, out / "samples.png")}

    rows = []
    for row, name in enumerate(RESAMPLED):
        c = SYNTHETIC.names.index(name)
        order = [(row + j) % len(label) for j in range(len(label))]            # scene `row` first
        i = next((i for i in order if (label[i] == c).any()), row)             # ... if it shows c
        z = layout.random_redraw(mu[i:i + 1], c, 5, generator=g)
        rows.append([shown[i], recon[i], *net.decode(label[i:i + 1].expand(5, -1, -1, -1), z)])
    paths["resample"] = save_grid(rows, out / "resample.png")

    c = SYNTHETIC.names.index(TRANSFERRED)
    rows = []
    for target, reference in [(0, 3), (1, 4), (2, 5)]:
        z = layout.replace(mu[target:target + 1], [c], mu[reference:reference + 1])
        result = net.decode(label[target:target + 1], z)[0]
        rows.append([shown[target], recon[target], image[reference], recon[reference], result])
    paths["transfer"] = save_grid(rows, out / "transfer.png")
    return paths


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m smis.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("results/demo"))
    p.add_argument("overrides", nargs="*", help="Hydra overrides on top of experiment=demo")
    args = p.parse_args(argv)
    t0 = time.time()
    cfg = compose_config(["experiment=demo", *args.overrides], output_dir=args.out / "training",
                         log_dir=args.out)
    print(f"training the small GroupDNet on synthetic scenes ({cfg.dataset.num_train} scenes x "
          f"{cfg.optim.constant_epochs + cfg.optim.decay_epochs} epochs) ...", flush=True)
    result = train(cfg)
    size = cfg.dataset.size if isinstance(cfg.dataset.size, int) else tuple(cfg.dataset.size)
    figures(result["model_path"], args.out, size, cfg.dataset.scene_seed, cfg.seed)
    out = args.out.resolve()
    print(f"\nafter {time.time() - t0:.0f}s, in {out}:")
    print("  samples.png   label | real | reconstruction | 4 random codes (unseen scenes)")
    print("  resample.png  label | reconstruction | 5 draws of one class's code; rows: "
          + ", ".join(RESAMPLED))
    print(f"  transfer.png  target label | target reconstructed | reference | reference reconstructed | "
          f"target with the reference's {TRANSFERRED}")
    print("  training/     checkpoints, model.pt, per-epoch figures in samples/, metrics in csv/")


if __name__ == "__main__":
    main()
