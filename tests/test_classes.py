"""Class tables: sizes, spot checks against the official sources, ClassInfo behaviour."""

from __future__ import annotations

import pytest
import torch

from smis.data.classes import ADE20K, CITYSCAPES, DATASETS, DEEPFASHION, ClassInfo, class_info


def test_sizes():
    assert (CITYSCAPES.num_classes, ADE20K.num_classes, DEEPFASHION.num_classes) == (35, 151, 8)
    for info in DATASETS.values():
        assert len(info.names) == len(info.palette) == info.num_classes
        assert len(set(info.names)) == info.num_classes, "class names must be unique"


@pytest.mark.parametrize("index, name, rgb", [
    (0, "unlabeled", (0, 0, 0)),
    (5, "dynamic", (111, 74, 0)),
    (6, "ground", (81, 0, 81)),
    (7, "road", (128, 64, 128)),
    (8, "sidewalk", (244, 35, 232)),
    (11, "building", (70, 70, 70)),
    (21, "vegetation", (107, 142, 35)),
    (23, "sky", (70, 130, 180)),
    (24, "person", (220, 20, 60)),
    (26, "car", (0, 0, 142)),
    (33, "bicycle", (119, 11, 32)),
    (34, "license plate", (0, 0, 142)),
])
def test_cityscapes_entries(index, name, rgb):
    # values from cityscapesScripts' helpers/labels.py
    assert CITYSCAPES.names[index] == name
    assert CITYSCAPES.palette[index] == rgb


def test_cityscapes_matches_torchvision():
    # torchvision ships the same labels.py table: ids 0..33, then license plate (id -1)
    tv = pytest.importorskip("torchvision.datasets.cityscapes").Cityscapes.classes
    assert [c.id for c in tv] == list(range(34)) + [-1]
    assert CITYSCAPES.names == tuple(c.name for c in tv)
    assert CITYSCAPES.palette == tuple(tuple(c.color) for c in tv)


@pytest.mark.parametrize("index, name, rgb", [
    (0, "wall", (120, 120, 120)),
    (1, "building", (180, 120, 120)),
    (2, "sky", (6, 230, 230)),
    (3, "floor", (80, 50, 50)),
    (4, "tree", (4, 200, 3)),
    (12, "person", (150, 5, 61)),
    (20, "car", (0, 102, 200)),
    (48, "skyscraper", (140, 140, 140)),
    (89, "television", (0, 255, 194)),
    (136, "traffic light", (41, 0, 255)),
    (149, "flag", (92, 0, 255)),
    (150, "unknown", (0, 0, 0)),
])
def test_ade20k_entries(index, name, rgb):
    # objectInfo150.txt (row index+1) and mmsegmentation's ADE20KDataset palette
    assert ADE20K.names[index] == name
    assert ADE20K.palette[index] == rgb


def test_ade20k_unknown_is_last_and_black():
    assert ADE20K.names[-1] == "unknown" and ADE20K.palette[-1] == (0, 0, 0)
    assert "unknown" not in ADE20K.names[:150]


def test_deepfashion_categories():
    # SMIS paper, Appendix B: the eight categories (their index order is inferred, see classes.py)
    assert set(DEEPFASHION.names) == {"hair", "face", "skin", "top-clothes", "bottom-clothes", "socks",
                                      "shoes", "background"}
    assert DEEPFASHION.palette[DEEPFASHION.names.index("background")] == (0, 0, 0)
    assert len(set(DEEPFASHION.palette)) == 8


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_palette_tensor(name):
    info = class_info(name)
    pal = info.palette_tensor()
    assert pal.shape == (info.num_classes, 3) and pal.dtype == torch.uint8
    assert pal[-1].tolist() == list(info.palette[-1])
    label = torch.tensor([[0, info.num_classes - 1]])
    assert pal[label].shape == (1, 2, 3)


def test_class_info_lookup_and_unknown_name():
    assert class_info("cityscapes") is CITYSCAPES
    assert class_info("ade20k") is ADE20K
    assert class_info("deepfashion") is DEEPFASHION
    with pytest.raises(ValueError, match="coco") as err:
        class_info("coco")
    for valid in DATASETS:
        assert valid in str(err.value)


def test_classinfo_validation_and_immutability():
    info = ClassInfo(["a", "b"], [[1, 2, 3], (4, 5, 6)])
    assert info.names == ("a", "b") and info.palette == ((1, 2, 3), (4, 5, 6))
    assert info.num_classes == 2
    with pytest.raises(ValueError):
        ClassInfo(("a", "b"), ((1, 2, 3),))
    with pytest.raises(ValueError):
        ClassInfo(("a",), ((1, 2, 256),))
    with pytest.raises(ValueError):
        ClassInfo(("a",), ((1, 2),))
    with pytest.raises(AttributeError):
        info.names = ("c", "d")
