"""Dataset specs: class tables checked against the official sources, label-file rules, evaluation
ids, DatasetSpec behaviour and its round trip through a plain dict."""

from __future__ import annotations

import io

import pytest
import torch

from smis.data import ADE20K, CITYSCAPES, DEEPFASHION, SPECS, SYNTHETIC, DatasetError, DatasetSpec, LabelRule
from smis.data.builtin_specs import dataset_spec


def test_sizes():
    assert (CITYSCAPES.num_classes, ADE20K.num_classes, DEEPFASHION.num_classes) == (35, 151, 8)
    for info in SPECS.values():
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
    # SMIS paper, Appendix B: the eight categories (their index order is inferred, see builtin_specs.py)
    assert set(DEEPFASHION.names) == {"hair", "face", "skin", "top-clothes", "bottom-clothes", "socks",
                                      "shoes", "background"}
    assert DEEPFASHION.palette[DEEPFASHION.names.index("background")] == (0, 0, 0)
    assert len(set(DEEPFASHION.palette)) == 8


@pytest.mark.parametrize("name", sorted(SPECS))
def test_palette_tensor(name):
    info = dataset_spec(name)
    pal = info.palette_tensor()
    assert pal.shape == (info.num_classes, 3) and pal.dtype == torch.uint8
    assert pal[-1].tolist() == list(info.palette[-1])
    label = torch.tensor([[0, info.num_classes - 1]])
    assert pal[label].shape == (1, 2, 3)


def test_spec_lookup_and_unknown_name():
    assert dataset_spec("cityscapes") is CITYSCAPES and dataset_spec("ade20k") is ADE20K
    assert dataset_spec("deepfashion") is DEEPFASHION and dataset_spec("synthetic") is SYNTHETIC
    with pytest.raises(ValueError, match="coco") as err:
        dataset_spec("coco")
    for valid in SPECS:
        assert valid in str(err.value)
    with pytest.raises(ValueError, match="no class 'cat'.*sky, grass"):
        SYNTHETIC.class_index("cat")


def test_spec_validation_and_immutability():
    info = DatasetSpec("mine", ["a", "b"], [[1, 2, 3], (4, 5, 6)])
    assert info.names == ("a", "b") and info.palette == ((1, 2, 3), (4, 5, 6))
    assert info.num_classes == 2 and info.eval_names == ("a", "b")
    with pytest.raises(ValueError, match="2 class names but 1 palette"):
        DatasetSpec("x", ("a", "b"), ((1, 2, 3),))
    with pytest.raises(ValueError, match="0..255"):
        DatasetSpec("x", ("a",), ((1, 2, 256),))
    with pytest.raises(ValueError, match="3 values"):
        DatasetSpec("x", ("a",), ((1, 2),))
    with pytest.raises(ValueError, match="unknown_index 5"):
        DatasetSpec("x", ("a",), ((1, 2, 3),), LabelRule(unknown_index=5))
    with pytest.raises(ValueError, match="evaluation ids"):
        DatasetSpec("x", ("a", "b"), ((1, 2, 3),) * 2, eval_ids=(0, 2))
    with pytest.raises(AttributeError):
        info.names = ("c", "d")


@pytest.mark.parametrize("name", sorted(SPECS))
def test_spec_round_trips_through_plain_values(name):
    spec = dataset_spec(name)
    plain = spec.to_dict()
    # only plain values: what torch.load(weights_only=True) reads back
    buffer = io.BytesIO()
    torch.save(plain, buffer)
    buffer.seek(0)
    assert DatasetSpec.from_dict(torch.load(buffer, weights_only=True)) == spec


def test_label_file_rules():
    raw = torch.tensor([[0, 1, 150, 255]])
    # ADE20K: file 0 ("unlabelled") and 255 -> 150 = unknown; v -> v - 1 (objectInfo150 row v)
    assert ADE20K.to_class_ids(raw).tolist() == [[150, 0, 149, 150]]
    expected = r"x.png: label value 151 has no class \(expected file values 1..150, or 0 and 255 for unknown"
    with pytest.raises(DatasetError, match=expected):
        ADE20K.to_class_ids(torch.tensor([151]), "x.png")
    # Cityscapes: labelIds as they are; 255 has no class
    assert CITYSCAPES.to_class_ids(torch.tensor([0, 7, 34])).tolist() == [0, 7, 34]
    with pytest.raises(DatasetError, match="label value 255 has no class"):
        CITYSCAPES.to_class_ids(torch.tensor([255]))
    with pytest.raises(DatasetError, match="label value 35"):
        CITYSCAPES.to_class_ids(torch.tensor([35]))
    # your own data: 255 -> the unknown index when one is set
    own = DatasetSpec("own", ("a", "b", "void"), ((0, 0, 0),) * 3, LabelRule(unknown_index=2))
    assert own.to_class_ids(torch.tensor([0, 1, 255])).tolist() == [0, 1, 2]
    assert own.eval_names == ("a", "b")


def test_ground_truth_for_the_segmentation_metrics():
    # Cityscapes labelIds -> trainIds (ignored classes -> ignore_index), as cityscapesScripts' labels.py says
    city = torch.tensor([[[7, 0, 26], [33, 34, 9]]])
    assert CITYSCAPES.ground_truth(city, 255).tolist() == [[[0, 255, 13], [18, 255, 255]]]
    assert CITYSCAPES.num_eval_classes == 19 and CITYSCAPES.eval_names[13] == "car"
    # ADE20K: 150 classes as they are, unknown (150) not scored
    assert ADE20K.ground_truth(torch.tensor([[[[0, 149, 150]]]]), 255).tolist() == [[[0, 149, 255]]]
    assert ADE20K.num_eval_classes == 150 and "unknown" not in ADE20K.eval_names
    # every class scored as itself
    assert SYNTHETIC.ground_truth(torch.tensor([[[0, 7]]]), 99).tolist() == [[[0, 7]]]
    with pytest.raises(ValueError, match="0..34"):
        CITYSCAPES.ground_truth(torch.tensor([[[35]]]))
    with pytest.raises(TypeError, match="integer"):
        CITYSCAPES.ground_truth(torch.zeros(1, 2, 2))
