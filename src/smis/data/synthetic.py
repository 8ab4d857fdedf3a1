"""Synthetic scenes: label maps and photos made on the fly from (seed, index), no files needed.

Outdoor layouts (sky over a horizon, mountains, grass, a road in perspective, buildings on the
horizon, trees, cars on the road, a pond). Each class's look in each image is drawn on its
own from a class-specific family of modes (a day, sunset, overcast or night sky; brick, concrete
or painted walls with windows; ...), so the data is multi-modal per class, as GroupDNet assumes:
the look of one class tells nothing about the others.

    smis-examples data/synthetic --scenes 200              # export as an image folder
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from .builtin_specs import SYNTHETIC
from .sampling import split_key

# the class ids of the spec's classes, by name
SKY, GRASS, ROAD, BUILDING, TREE, CAR, WATER, ROCK = map(
    SYNTHETIC.class_index, ("sky", "grass", "road", "building", "tree", "car", "water", "rock"))

# colour modes (RGB in [0, 1]) per class: one mode is drawn per image, then jittered
MODES = {
    SKY: [(0.35, 0.6, 0.95), (0.95, 0.55, 0.3), (0.68, 0.7, 0.72), (0.08, 0.1, 0.25)],
    GRASS: [(0.3, 0.6, 0.15), (0.65, 0.6, 0.25), (0.45, 0.35, 0.2), (0.9, 0.92, 0.95)],
    ROAD: [(0.25, 0.25, 0.27), (0.5, 0.5, 0.5), (0.55, 0.4, 0.3)],
    BUILDING: [(0.65, 0.3, 0.2), (0.7, 0.7, 0.68), (0.9, 0.85, 0.6), (0.3, 0.45, 0.6)],
    TREE: [(0.1, 0.45, 0.1), (0.85, 0.45, 0.1), (0.7, 0.15, 0.1), (0.2, 0.3, 0.15)],
    CAR: [(0.8, 0.1, 0.1), (0.1, 0.2, 0.7), (0.9, 0.9, 0.9), (0.1, 0.1, 0.1), (0.95, 0.8, 0.1)],
    WATER: [(0.15, 0.35, 0.7), (0.1, 0.5, 0.5), (0.3, 0.35, 0.3)],
    ROCK: [(0.45, 0.42, 0.4), (0.5, 0.35, 0.25), (0.75, 0.75, 0.8)],
}


def stream(seed: int, index: int, part: int) -> torch.Generator:
    """An independent random stream for (seed, image index, part): part 0 is the layout,
    part 1 + c the appearance of class c."""
    state = np.random.SeedSequence([seed, index, part]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & 0x7FFF_FFFF_FFFF_FFFF)


def _u(g: torch.Generator, lo: float = 0.0, hi: float = 1.0) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g))


def smooth_noise(g: torch.Generator, H: int, W: int, cells: int) -> torch.Tensor:
    """(H,W) noise in [0,1] with about `cells` blobs per side."""
    coarse = torch.rand(1, 1, cells + 1, cells + 1, generator=g)
    return F.interpolate(coarse, size=(H, W), mode="bicubic", align_corners=True)[0, 0].clamp(0, 1)


def make_layout(H: int, W: int, g: torch.Generator) -> torch.Tensor:
    """(H,W) int64 class ids, painted back to front."""
    y = torch.linspace(0, 1, H).view(H, 1).expand(H, W)
    x = torch.linspace(0, 1, W).view(1, W).expand(H, W)
    horizon = _u(g, 0.3, 0.55) + _u(g, 0, 0.04) * torch.sin(_u(g, 3, 12) * x + _u(g, 0, 6.3))
    label = torch.full((H, W), GRASS, dtype=torch.int64)
    label[y < horizon] = SKY
    if _u(g) < 0.6:                                            # a mountain ridge on the horizon
        peak, height, width = _u(g, 0.1, 0.9), _u(g, 0.1, 0.3), _u(g, 0.2, 0.6)
        ridge = horizon - height * (1 - (x - peak).abs() / width).clamp(min=0)
        label[(y >= ridge) & (y < horizon)] = ROCK
    if _u(g) < 0.5:                                            # a pond
        cx, cy, rx, ry = _u(g, 0.15, 0.85), _u(g, 0.75, 0.95), _u(g, 0.1, 0.25), _u(g, 0.04, 0.08)
        label[((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 < 1] = WATER
    road = _u(g) < 0.8
    if road:                                                   # a road vanishing at the horizon
        h0 = float(horizon.mean())
        centre, bottom, top = _u(g, 0.3, 0.7), _u(g, 0.25, 0.5), _u(g, 0.0, 0.03)
        t = ((y - h0) / (1 - h0)).clamp(0, 1)
        half = top + (bottom - top) * t
        vanish = _u(g, 0.35, 0.65)
        mid = vanish + (centre - vanish) * t
        label[(y > h0) & ((x - mid).abs() < half)] = ROAD
    for _ in range(int(torch.randint(0, 4, (), generator=g))):  # buildings on the horizon
        left, w, h = _u(g, 0, 0.85), _u(g, 0.08, 0.25), _u(g, 0.1, 0.3)
        base = float(horizon.mean()) + 0.02
        label[(x > left) & (x < left + w) & (y > base - h) & (y < base)] = BUILDING
    for _ in range(int(torch.randint(1, 5, (), generator=g))):  # trees
        cx, cy, r = _u(g, 0, 1), float(horizon.mean()) + _u(g, -0.12, 0.15), _u(g, 0.04, 0.1)
        label[((x - cx) / r) ** 2 + ((y - cy) / (1.3 * r)) ** 2 < 1] = TREE
    if road:
        for _ in range(int(torch.randint(0, 3, (), generator=g))):   # cars on the road
            on_road = (label == ROAD).nonzero()
            if len(on_road) == 0:
                break
            cy, cx = on_road[int(torch.randint(0, len(on_road), (), generator=g))].tolist()
            ch, cw = max(2, int(H * _u(g, 0.04, 0.08))), max(3, int(W * _u(g, 0.08, 0.15)))
            label[max(cy - ch, 0):cy, max(cx - cw // 2, 0):cx + cw // 2] = CAR
    return label


def class_texture(c: int, H: int, W: int, g: torch.Generator) -> torch.Tensor:
    """(3,H,W) in [0,1]: how class c looks in one image, drawn from its family."""
    modes = MODES[c]
    base = torch.tensor(modes[int(torch.randint(0, len(modes), (), generator=g))])
    base = (base + (torch.rand(3, generator=g) - 0.5) * 0.15).clamp(0, 1).view(3, 1, 1)
    y = torch.linspace(0, 1, H).view(1, H, 1)
    x = torch.linspace(0, 1, W).view(1, 1, W)
    if c == SKY:                                               # vertical gradient, soft clouds
        tex = base * (0.75 + 0.35 * y) + 0.15 * _u(g) * smooth_noise(g, H, W, 4)
    elif c in (GRASS, TREE, ROCK):                             # blotches, coarse or fine
        cells = {GRASS: int(_u(g, 6, 20)), TREE: int(_u(g, 4, 10)), ROCK: int(_u(g, 12, 30))}[c]
        tex = base * (0.6 + 0.6 * smooth_noise(g, H, W, cells))
    elif c == ROAD:                                            # asphalt with a dashed line
        tex = base * (0.9 + 0.2 * torch.rand(1, H, W, generator=g))
        if _u(g) < 0.7:
            line = ((x - 0.5).abs() < 0.01) & (torch.sin(y * _u(g, 20, 60)) > 0)
            tex = torch.where(line, torch.tensor([0.95, 0.95, 0.8]).view(3, 1, 1), tex)
    elif c == BUILDING:                                        # a wall with a grid of windows
        window = torch.rand(3, 1, 1, generator=g) * 0.5
        period_x, period_y = _u(g, 0.03, 0.08), _u(g, 0.04, 0.1)
        wins = (torch.remainder(x, period_x) < period_x / 2) & (torch.remainder(y, period_y) < period_y / 2)
        tex = torch.where(wins, window, base)
    elif c == CAR:                                             # body with a darker top
        tex = torch.where(torch.remainder(y * _u(g, 8, 16), 1) < 0.35, base * 0.4, base)
    else:                                                      # water: horizontal waves
        tex = base * (0.85 + 0.15 * torch.sin(y * _u(g, 60, 160) + 2 * smooth_noise(g, H, W, 3)))
    return tex.expand(3, H, W).clamp(0, 1)


class SyntheticScenes(Dataset):
    """num_samples scenes of size (H, W); the same (seed, index) always gives the same scene.
    Training adds random horizontal flips (drawn from the key's seed when it has one)."""

    spec = SYNTHETIC
    num_classes = SYNTHETIC.num_classes

    def __init__(self, num_samples: int = 512, size: int | tuple[int, int] = 128, seed: int = 0,
                 train: bool = True, flip: bool = True, first_index: int = 0):
        self.num_samples, self.seed, self.train, self.flip = num_samples, seed, train, flip
        self.first_index = first_index     # scene i of this dataset is scene first_index + i
        self.size = (size, size) if isinstance(size, int) else tuple(size)

    def __len__(self) -> int:
        return self.num_samples

    def scene(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """-> image (3,H,W) in [-1,1], label (1,H,W) int64, before augmentation."""
        H, W = self.size
        index += self.first_index
        label = make_layout(H, W, stream(self.seed, index, 0))
        image = torch.zeros(3, H, W)
        for c in label.unique().tolist():
            tex = class_texture(c, H, W, stream(self.seed, index, 1 + c))
            image = torch.where(label == c, tex, image)
        return image * 2 - 1, label[None]

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        """key: an index, or (index, augmentation seed) as EpochSampler yields (see split_key)."""
        index, generator = split_key(key)
        if not 0 <= index < self.num_samples:
            raise IndexError(f"index {index} out of range for {self.num_samples} scenes")
        image, label = self.scene(index)
        if self.train and self.flip and bool(torch.rand((), generator=generator) < 0.5):
            image, label = image.flip(-1), label.flip(-1)
        return {"image": image, "label": label, "name": f"scene_{self.seed}_{self.first_index + index:06d}"}


def export(out: Path, count: int, size: int = 128, seed: int = 0) -> Path:
    """Write scenes as an image folder (images/, labels/, classes.yaml) for ImageFolderDataset."""
    import yaml

    data = SyntheticScenes(count, size, seed, train=False)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    width = max(6, len(str(count)))
    for i in range(count):
        image, label = data.scene(i)
        name = f"scene_{i:0{width}d}"
        pixels = ((image + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
        Image.fromarray(pixels).save(out / "images" / f"{name}.png")
        Image.fromarray(label[0].to(torch.uint8).numpy(), mode="L").save(out / "labels" / f"{name}.png")
        if (i + 1) % max(1, count // 10) == 0 or i + 1 == count:
            print(f"  {i + 1}/{count} scenes", flush=True)
    meta = {"name": SYNTHETIC.name, "num_classes": SYNTHETIC.num_classes, "names": list(SYNTHETIC.names),
            "palette": [list(rgb) for rgb in SYNTHETIC.palette]}
    (out / "classes.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    return out


def voronoi_labels(batch: int, classes: int, height: int, width: int, seed: int = 0):
    """Label maps for any number of classes (benchmarks and tests): -> label (B,1,H,W) int64 from
    Voronoi blobs (two per present class, up to 20 classes per image), and instance = label * 1000
    + blob index, so every blob is its own instance."""
    g = torch.Generator().manual_seed(seed)
    yx = torch.stack(torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij"), -1).float()
    labels, instances = [], []
    for _ in range(batch):
        ids = torch.randperm(classes, generator=g)[:min(classes, 20)].repeat(2)
        centres = torch.rand(len(ids), 2, generator=g) * torch.tensor([height, width])
        blob = ((yx[None] - centres[:, None, None]) ** 2).sum(-1).argmin(0)
        labels.append(ids[blob])
        instances.append(ids[blob] * 1000 + blob)
    return torch.stack(labels)[:, None], torch.stack(instances)[:, None]
