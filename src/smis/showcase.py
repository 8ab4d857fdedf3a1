"""What per-class codes do, shown on a model: the three labelled figures of `make demo` and the
docs (samples, one class re-drawn, one class's look transferred), made through smis.Synthesizer on
held-out synthetic scenes, and the pixel-space control metrics (smis.evaluate metrics=[separation,looks]).

    samples.png    label | real | reconstruction (its encoded codes) | random codes ...
    resample.png   per row: label | reconstruction | only one class's code re-drawn ...
    transfer.png   per row: target label | target reconstructed | reference | reference reconstructed |
                   the target with one class's look (its code) taken from the reference
"""

from __future__ import annotations

from pathlib import Path

from .config import compose_config
from .data import SYNTHETIC, SyntheticScenes
from .data.datamodules import VAL_OFFSET
from .evaluation.runner import evaluate
from .synthesizer import Synthesizer
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
