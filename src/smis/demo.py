"""`make demo` (first version): build the small GroupDNet on CPU and draw samples for a built-in
label map: several random codes, and a strip where only one class's code is re-sampled.

The network is randomly initialised until the training command lands, so the pictures show
the mechanics (one code per class, 8 channels each), not learned appearance.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from .networks import GroupDNet, preset
from .visualize import colorize, save_grid

SCENE_CLASSES = ("sky", "grass", "road", "building", "tree", "car", "water", "rock")


def builtin_scene(size: int = 128) -> torch.Tensor:
    """A fixed street-like label map: sky over buildings, a road, grass, trees, a car, a pond.
    -> (1,1,size,size) int64 with ids into SCENE_CLASSES."""
    y, x = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    label = torch.zeros(size, size, dtype=torch.int64)                          # sky
    label[y > 0.55 + 0.04 * torch.sin(9 * x)] = 1                               # grass
    label[(x > 0.1) & (x < 0.45) & (y > 0.25) & (y <= 0.6)] = 3                 # building
    label[(x > 0.6) & (x < 0.8) & (y > 0.35) & (y <= 0.6)] = 3
    label[(y > 0.68) & (y < 0.85)] = 2                                          # road
    label[(x - 0.9) ** 2 + ((y - 0.45) * 0.8) ** 2 < 0.012] = 4                 # tree
    label[(x - 0.52) ** 2 + (y - 0.5) ** 2 < 0.006] = 4
    label[(x > 0.2) & (x < 0.35) & (y > 0.72) & (y < 0.8)] = 5                  # car
    label[((x - 0.75) / 1.8) ** 2 + (y - 0.93) ** 2 < 0.003] = 6                # pond
    label[(y > 0.5) & (y < 0.62) & (torch.abs(x - 0.05) < 0.05 - (0.62 - y) * 0.3)] = 7  # rock
    return label[None, None]


@torch.no_grad()
def calibrate_batch_norm(net: GroupDNet, label: torch.Tensor, passes: int = 4) -> None:
    """Set the generator's batch-norm statistics from a few random codes (a fresh network's
    running statistics are the identity, which saturates its untrained output)."""
    norms = [m for m in net.generator.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None                       # cumulative average over the passes
    net.train()
    for _ in range(passes):
        net.decode(label.expand(4, -1, -1, -1), net.sample_z(4, *label.shape[2:]))
    net.eval()


def run(out_dir: Path, size: int = 128, samples: int = 4, resample_class: str = "building",
        seed: int = 0) -> Path:
    torch.manual_seed(seed)
    # gain 1 instead of the training init 0.02, so that an untrained network shows structure
    net = GroupDNet(preset("small", num_classes=len(SCENE_CLASSES)), with_discriminator=False,
                    init_gain=1.0)
    label = builtin_scene(size)
    calibrate_batch_norm(net, label)
    c = SCENE_CLASSES.index(resample_class)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        z = net.sample_z(samples, size, size, generator=gen)                     # (S, 8C, h, w)
        random_codes = net.decode(label.expand(samples, -1, -1, -1), z)
        z_one = z[:1].repeat(samples, 1, 1, 1)
        z_one[:, 8 * c:8 * c + 8] = net.sample_z(samples, size, size, generator=gen)[:, 8 * c:8 * c + 8]
        one_class = net.decode(label.expand(samples, -1, -1, -1), z_one)
    shown = colorize(label)[0]
    path = save_grid([[shown, *random_codes], [shown, *one_class]], out_dir / "samples.png")
    return path


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m smis.demo", description=__doc__)
    p.add_argument("--out", type=Path, default=Path("results/demo"))
    p.add_argument("--size", type=int, default=128, help="image side, a multiple of 64")
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--resample-class", default="building", choices=SCENE_CLASSES)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.size % 64 or args.size <= 0:
        p.error(f"--size must be a positive multiple of 64; got {args.size}")
    t0 = time.time()
    path = run(args.out, args.size, args.samples, args.resample_class, args.seed)
    print(f"row 1: label map | {args.samples} samples with random codes for every class")
    print(f"row 2: label map | {args.samples} samples where only '{args.resample_class}' is "
          f"re-sampled")
    print(f"wrote {path.resolve()} in {time.time() - t0:.1f}s "
          "(small GroupDNet with random weights: training comes with `python -m smis.train`)")


if __name__ == "__main__":
    main()
