"""Each dataset on a tiny tree of its real layout: pairing, label conventions, sizes, flips."""

import numpy as np
import pytest
import torch

from smis.data import (
    ADE20KDataset,
    CityscapesDataset,
    DatasetError,
    DeepFashionDataset,
    ImageFolderDataModule,
    ImageFolderDataset,
)
from smis.visualize import colorize
from tests.helpers.data_trees import ade20k_tree, cityscapes_tree, deepfashion_tree, folder_tree


def stripe_values(label: torch.Tensor) -> list[int]:
    """Distinct values left to right along the first row."""
    row = label[0, 0].tolist()
    return [v for i, v in enumerate(row) if i == 0 or v != row[i - 1]]


def test_cityscapes_pairs_labels_instances_and_size(tmp_path):
    root = cityscapes_tree(tmp_path)
    train = CityscapesDataset(root, "train")
    val = CityscapesDataset(root, "val")
    assert len(train) == 4 and len(val) == 2 and train.train and not val.train
    item = val[0]
    assert item["name"] == "lindau_000000_000000"
    assert item["image"].shape == (3, 256, 512) and item["image"].dtype == torch.float32
    assert -1 <= item["image"].min() and item["image"].max() <= 1
    assert item["label"].shape == item["instance"].shape == (1, 256, 512)
    assert item["label"].dtype == item["instance"].dtype == torch.int64
    assert stripe_values(item["label"]) == [7, 26, 23]           # labelIds kept as class ids
    assert set(item["instance"].unique().tolist()) == {7, 26001}   # 16-bit instance ids exact
    assert train.num_classes == 35


def _is_flipped(train_item, eval_item) -> bool:
    """Whether a training item is the mirror of the un-augmented one; image and label must agree."""
    same = torch.equal(train_item["label"], eval_item["label"])
    mirrored = torch.equal(train_item["label"], eval_item["label"].flip(-1))
    assert same != mirrored                    # the label is asymmetric: exactly one holds
    expected = eval_item["image"].flip(-1) if mirrored else eval_item["image"]
    assert torch.equal(train_item["image"], expected)
    if "instance" in eval_item:
        inst = eval_item["instance"].flip(-1) if mirrored else eval_item["instance"]
        assert torch.equal(train_item["instance"], inst)
    return mirrored


def test_flip_moves_image_label_and_instance_together(tmp_path):
    root = cityscapes_tree(tmp_path)
    train, plain = CityscapesDataset(root, "train"), CityscapesDataset(root, "train", train=False)
    torch.manual_seed(0)
    flips = [_is_flipped(train[0], plain[0]) for _ in range(12)]
    assert any(flips) and not all(flips)
    no_flip = CityscapesDataset(root, "train", flip=False)
    assert not any(_is_flipped(no_flip[0], plain[0]) for _ in range(4))


def test_ade20k_shift_unknown_and_crop(tmp_path):
    root = ade20k_tree(tmp_path)
    val = ADE20KDataset(root, "val")
    item = val[0]
    assert item["image"].shape == (3, 256, 256) and item["label"].shape == (1, 256, 256)
    # file 0 -> unknown 150, 1 -> 0, 3 -> 2, 150 -> 149, 255 -> unknown 150
    assert stripe_values(item["label"]) == [150, 0, 2, 149, 150]
    assert val.num_classes == 151 and val.spec.names[150] == "unknown"
    train = ADE20KDataset(root, "train")
    torch.manual_seed(0)
    crops = [train[0] for _ in range(6)]
    assert all(c["image"].shape == (3, 256, 256) and c["label"].shape == (1, 256, 256) for c in crops)
    # a 256 window of a 286 resize: the label keeps its order (or its mirror) but windows differ
    assert len({tuple(c["label"][0, 0].tolist()) for c in crops}) > 1
    assert ADE20KDataset(root, "training").train


def test_deepfashion_splits_and_size(tmp_path):
    root = deepfashion_tree(tmp_path)
    test = DeepFashionDataset(root, "val")                       # val reads the test split
    assert len(test) == 3 and test[0]["image"].shape == (3, 256, 256)
    assert stripe_values(test[0]["label"]) == [0, 2, 5, 7] and "instance" not in test[0]
    assert test.num_classes == 8


def test_image_folder_with_classes_file(tmp_path):
    root = folder_tree(tmp_path)
    data = ImageFolderDataset(root, train=False)
    assert len(data) == 10 and data.num_classes == 4
    assert data.spec.names == ("ground", "wall", "sky", "thing")
    item = data[0]
    assert item["image"].shape == (3, 24, 32) and stripe_values(item["label"]) == [0, 1, 2, 3]
    # colourising uses the dataset's palette
    rgb = colorize(item["label"][None], data.spec.palette_tensor())
    assert rgb[0, :, 0, 0].tolist() == [-1, -1, -1] and rgb[0, :, 0, -1].tolist() == [-1, 1, -1]
    resized = ImageFolderDataset(root, train=False, resize=[48, 64])
    assert resized[0]["label"].shape == (1, 48, 64)


def test_image_folder_config_overrides_file_and_unknown_value(tmp_path):
    root = folder_tree(tmp_path, classes_file=False)
    label = np.full((24, 32), 255, np.uint8)
    label[:, :16] = 1
    from tests.helpers.data_trees import save
    save(label, root / "labels" / "img_00.png")
    data = ImageFolderDataset(root, num_classes=5, unknown_index=4, train=False)
    assert data.spec.names[0] == "class_0"
    assert stripe_values(data[0]["label"]) == [1, 4]


def test_image_folder_holds_out_validation(tmp_path):
    root = folder_tree(tmp_path, n=10)
    dm = ImageFolderDataModule(str(root), val_fraction=0.2, num_workers=0, batch_size=2)
    dm.setup()
    train_names = {s.name for s in dm.train_set.samples}
    val_names = {s.name for s in dm.val_set.samples}
    assert len(val_names) == 2 and len(train_names) == 8 and not train_names & val_names
    assert dm.train_set.train and not dm.val_set.train
    again = ImageFolderDataModule(str(root), val_fraction=0.2)
    again.setup()
    assert {s.name for s in again.val_set.samples} == val_names          # fixed by the seed


def test_image_folder_with_instances(tmp_path):
    root = folder_tree(tmp_path, n=2)
    from tests.helpers.data_trees import save
    for i in range(2):
        save(np.arange(24 * 32, dtype=np.uint16).reshape(24, 32), root / "inst" / f"img_{i:02d}.png")
    item = ImageFolderDataset(root, instance_dir="inst", train=False)[0]
    assert item["instance"][0, 1, 0].item() == 32
    (root / "inst" / "img_01.png").unlink()
    with pytest.raises(DatasetError, match=r"no instance map for 1 images \(e.g. img_01\)"):
        ImageFolderDataset(root, instance_dir="inst")
