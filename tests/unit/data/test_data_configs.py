"""Each datamodule works from its config in configs/dataset/ plus a root path, composed the way
`python -m smis.train dataset=NAME dataset.root=...` composes it."""

from pathlib import Path

import pytest
import torch
from hydra.errors import MissingConfigException
from hydra.utils import instantiate
from omegaconf.errors import MissingMandatoryValue

from smis.data import DatasetError
from tests.helpers.data_trees import ade20k_tree, cityscapes_tree, deepfashion_tree, folder_tree
from tests.helpers.hydra_configs import compose_train

TREES = {"cityscapes": (cityscapes_tree, 35), "ade20k": (ade20k_tree, 151),
         "deepfashion": (deepfashion_tree, 8), "folder": (folder_tree, 4)}
SMALL = {"cityscapes": {"size": [32, 64]}, "ade20k": {"load_size": 40, "crop_size": 32},
         "deepfashion": {"size": 32}, "folder": {"resize": 32, "val_fraction": 0.2},
         "synthetic": {"size": 32, "num_train": 4, "num_val": 2}}


def datamodule(name: str, root: Path | None, **overrides):
    options = {**SMALL[name], "batch_size": 2, "num_workers": 0, **overrides}
    args = [f"dataset={name}"] + [f"++dataset.{k}={v}".replace(" ", "") for k, v in options.items()]
    if root is not None:
        args.append(f"dataset.root={root}")
    return instantiate(compose_train(args).dataset)


@pytest.mark.parametrize("name", sorted(TREES))
def test_config_with_root_gives_batches(tmp_path, name):
    make_tree, num_classes = TREES[name]
    dm = datamodule(name, make_tree(tmp_path / name))
    dm.setup("fit")
    assert dm.num_classes == num_classes
    for loader in (dm.train_dataloader(), dm.val_dataloader()):
        batch = next(iter(loader))
        assert batch["image"].shape[:2] == (2, 3) and batch["image"].dtype == torch.float32
        assert batch["label"].shape[1] == 1 and batch["label"].dtype == torch.int64
        size = (32, 64) if name == "cityscapes" else (32, 32)
        assert batch["label"].shape[-2:] == batch["image"].shape[-2:] == size
        assert int(batch["label"].max()) < num_classes
        assert len(batch["name"]) == 2
    assert ("instance" in batch) == (name == "cityscapes")


def test_synthetic_config_needs_nothing_and_loads_with_workers():
    dm = datamodule("synthetic", None, num_workers=2, persistent_workers=True)
    loader = dm.train_dataloader()
    assert loader.num_workers == 2 and loader.persistent_workers
    first = [b["name"] for b in loader]
    again = [b["name"] for b in datamodule("synthetic", None, num_workers=2).train_dataloader()]
    assert first == again                          # shuffling is seeded
    assert next(iter(loader))["image"].shape == (2, 3, 32, 32)


def test_worker_augmentation_is_seeded(tmp_path):
    """Flips drawn inside two workers repeat exactly with the same datamodule seed."""
    root = folder_tree(tmp_path / "f", n=12)

    def labels(seed):
        dm = datamodule("folder", root, num_workers=2, seed=seed, persistent_workers=False)
        return torch.cat([b["label"] for b in dm.train_dataloader()])

    assert torch.equal(labels(1), labels(1))
    assert not torch.equal(labels(1), labels(2))


def test_missing_root_in_config_is_reported(tmp_path):
    with pytest.raises(DatasetError, match="leftImg8bit"):
        datamodule("cityscapes", tmp_path / "nowhere").setup("fit")
    with pytest.raises(MissingMandatoryValue, match="dataset.root"):
        instantiate(compose_train(["dataset=cityscapes"]).dataset)   # root: ??? left unset


def test_unknown_dataset_lists_the_choices():
    with pytest.raises(MissingConfigException, match="Available options") as err:
        compose_train(["dataset=cityscape"])
    assert "cityscapes" in str(err.value) and "synthetic" in str(err.value)
