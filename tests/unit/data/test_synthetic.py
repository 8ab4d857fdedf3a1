"""The built-in synthetic scenes: deterministic per seed, natural layouts, and each class's look
drawn independently per image from a multi-modal family."""

import numpy as np
import torch

from smis.cli.examples import main
from smis.data import SYNTHETIC, ImageFolderDataset, SyntheticDataModule, SyntheticScenes
from smis.data.synthetic import GRASS, SKY


def mean_colours(data: SyntheticScenes, n: int) -> dict[int, np.ndarray]:
    """class -> (n, 3) mean RGB of that class in each scene (NaN where absent)."""
    out = {c: np.full((n, 3), np.nan) for c in range(SYNTHETIC.num_classes)}
    for i in range(n):
        image, label = data.scene(i)
        for c in label.unique().tolist():
            out[c][i] = image[:, label[0] == c].mean(1).numpy()
    return out


def test_same_seed_same_scene_other_seed_other_scene():
    a, b = SyntheticScenes(4, 48, seed=7, train=False), SyntheticScenes(4, 48, seed=7, train=False)
    for i in range(4):
        assert all(torch.equal(x, y) for x, y in zip(a.scene(i), b.scene(i)))
    other = SyntheticScenes(4, 48, seed=8, train=False)
    assert not torch.equal(a.scene(0)[1], other.scene(0)[1])
    assert not torch.equal(a.scene(0)[1], a.scene(1)[1])


def test_sample_format_and_flip():
    data = SyntheticScenes(8, (32, 48), seed=0, train=True)
    torch.manual_seed(0)
    samples = [data[i] for i in range(8)]
    for i, s in enumerate(samples):
        assert s["image"].shape == (3, 32, 48) and s["image"].dtype == torch.float32
        assert s["label"].shape == (1, 32, 48) and s["label"].dtype == torch.int64
        assert -1 <= s["image"].min() and s["image"].max() <= 1
        image, label = data.scene(i)
        flipped = torch.equal(s["label"], label.flip(-1)) and torch.equal(s["image"], image.flip(-1))
        assert flipped or (torch.equal(s["label"], label) and torch.equal(s["image"], image))
    assert any(not torch.equal(s["label"], data.scene(i)[1]) for i, s in enumerate(samples))
    val = SyntheticScenes(4, 32, seed=0, train=False)
    assert all(torch.equal(val[i]["label"], val.scene(i)[1]) for i in range(4))


def test_layouts_are_natural_and_use_every_class():
    data = SyntheticScenes(100, 64, seed=0, train=False)
    seen = torch.zeros(SYNTHETIC.num_classes, dtype=torch.bool)
    rows = torch.arange(64).view(64, 1).expand(64, 64).float()
    for i in range(100):
        _, label = data.scene(i)
        seen |= torch.bincount(label.flatten(), minlength=SYNTHETIC.num_classes) > 0
        sky, grass = label[0] == SKY, label[0] == GRASS
        assert sky.any() and grass.any()
        assert rows[sky].mean() < rows[grass].mean()           # sky above the ground
    assert SYNTHETIC.num_classes >= 6 and seen.all()


def test_class_appearance_is_independent_across_classes_and_multimodal():
    colours = mean_colours(SyntheticScenes(300, 32, seed=3, train=False), 300)
    sky, grass = colours[SKY], colours[GRASS]                  # both are in every scene
    for channel in range(3):
        r = np.corrcoef(sky[:, channel], grass[:, channel])[0, 1]
        assert abs(r) < 0.2, f"sky and grass colours correlate (r={r:.2f}, channel {channel})"
    # multi-modal: the sky's brightness spreads over distinct modes (day, sunset, overcast, night)
    brightness = sky.mean(1)
    assert brightness.std() > 0.2
    hist, _ = np.histogram(brightness, bins=8, range=(-1, 1))
    assert (hist > 10).sum() >= 3


def test_class_appearance_does_not_depend_on_the_layout():
    """The same scene index in two datasets whose layouts differ (other size) keeps each class's
    colour family: the look is drawn from its own stream, not the layout's."""
    data = SyntheticScenes(50, 64, seed=5, train=False)
    small = SyntheticScenes(50, 48, seed=5, train=False)
    a, b = mean_colours(data, 50)[SKY], mean_colours(small, 50)[SKY]
    assert np.abs(a - b).max() < 0.15


def test_datamodule_keeps_validation_apart_from_training():
    dm = SyntheticDataModule(num_train=6, num_val=3, size=32, batch_size=4, num_workers=0)
    dm.setup()
    train_names = {dm.train_set[i]["name"] for i in range(6)}
    val_names = {dm.val_set[i]["name"] for i in range(3)}
    assert not train_names & val_names
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (4, 3, 32, 32) and batch["label"].shape == (4, 1, 32, 32)
    assert dm.num_classes == SYNTHETIC.num_classes


def test_export_round_trips_through_the_image_folder_dataset(tmp_path, capsys):
    size = 48
    main([str(tmp_path / "scenes"), "--scenes", "5", "--size", str(size), "--seed", "2"])
    assert "wrote 5 scenes" in capsys.readouterr().out
    folder = ImageFolderDataset(tmp_path / "scenes", train=False)
    assert len(folder) == 5
    assert folder.spec.names == SYNTHETIC.names and folder.spec.palette == SYNTHETIC.palette
    original = SyntheticScenes(5, size, seed=2, train=False)
    for i in range(5):
        image, label = original.scene(i)
        sample = folder[i]
        assert torch.equal(sample["label"], label)
        assert (sample["image"] - image).abs().max() <= 1 / 127.5 + 1e-6   # 8-bit rounding only
