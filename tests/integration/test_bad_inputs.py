"""Bad inputs named, with what was expected: the networks' inputs, option types, classes files,
folder datasets, convert's output (evaluation's: test_evaluate_errors.py)."""

import os
import re
import time
import warnings

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from smis.cli import convert
from smis.config import compose_config
from smis.data import DatasetError, ImageFolderDataModule, ImageFolderDataset
from smis.networks import GroupDNet, preset
from smis.networks.vgg import VGG19Features
from smis.train import ConfigError
from smis.utils import atomic_torch_save
from tests.helpers.data_trees import folder_tree, save
from tests.helpers.hydra_configs import SYNTHETIC, run

# --- encode / discriminate inputs ------------------------------------------------------------


@pytest.fixture(scope="module")
def net():
    return GroupDNet(preset("small", num_classes=8)).eval()


def test_images_outside_minus_one_one_are_an_error_naming_the_range(net):
    label = torch.randint(0, 8, (2, 1, 64, 128))
    image = torch.rand(2, 3, 64, 128) * 2 - 1
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("error")                         # correct input: not a word
        net.encode(image, label)
        net.discriminate(label, image)
        net.encode((image * (1 + 5e-4)).clamp(-1.0005, 1.0005), label)     # round-off is tolerated
    with pytest.raises(ValueError, match=r"must lie in \[-1, 1\]; found values in \[0, 255\]"):
        net.encode(((image + 1) * 127.5).round(), label)
    with pytest.raises(ValueError, match=r"must lie in \[-1, 1\]; found values in \[-1, 1.5\]"):
        net.discriminate(label, torch.cat([image[:1], image[1:].clamp(0) * 1.5]))


@pytest.mark.parametrize("image_shape, label_shape", [((2, 3, 64, 128), (1, 1, 64, 128)),
                                                      ((2, 4, 64, 128), (2, 1, 64, 128)),
                                                      ((2, 3, 64, 128), (2, 1, 64, 64))])
def test_encode_names_mismatched_shapes(net, image_shape, label_shape):
    image, label = torch.zeros(image_shape), torch.zeros(label_shape, dtype=torch.int64)
    expected = (rf"image torch.float32 \({', '.join(map(str, image_shape))}\) and label torch.int64 "
                rf"\({', '.join(map(str, label_shape))}\) do not match: expected image \(B,3,H,W\)")
    with pytest.raises(ValueError, match=expected):
        net.encode(image, label)




# --- wrong types ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("override, expected", [
    ("dataset.batch_size=abc", "dataset.batch_size='abc': expected a positive integer"),
    ("optim.lr_g=abc", "optim.lr_g='abc': expected a number > 0"),
    ("trainer.max_steps=abc", r"trainer.max_steps='abc': expected an integer \(-1: no limit\)"),
    ("seed=abc", "seed='abc': expected an integer"),
    ("dataset.batch_size=2.5", "dataset.batch_size=2.5: expected a positive integer"),
])
def test_numeric_options_of_the_wrong_type_are_named(tmp_path, override, expected):
    with pytest.raises(ConfigError, match=expected):
        run(tmp_path, *SYNTHETIC, override)
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize("text, expected", [
    ("num_classes: four", "num_classes must be a positive integer; got 'four'"),
    ("num_classes: 4.7", "num_classes must be a positive integer; got 4.7"),
    ("num_classes: 0", "num_classes must be a positive integer; got 0"),
    ("num_classes: -4", "num_classes must be a positive integer; got -4"),
    ("num_classes: 2\npalette: [red, [0, 0, 0]]", "palette entry 0 is 'red'; expected .r, g, b. integers"),
    ("num_classes: 4\nnames: abcd", "names must be a list of class names.*; got 'abcd'"),
])
def test_classes_file_values_are_checked_naming_the_file_and_key(tmp_path, text, expected):
    root = folder_tree(tmp_path)
    (root / "classes.yaml").write_text(text + "\n")
    with pytest.raises(DatasetError, match=f"{root / 'classes.yaml'}: {expected}"):
        ImageFolderDataset(root)
    with pytest.raises(DatasetError, match=r"\(dataset options\): num_classes must be a positive integer; "
                                           "got 0"):
        ImageFolderDataset(root, num_classes=0)


# --- folder dataset ----------------------------------------------------------------------------------


def test_two_images_of_one_name_are_an_error_and_upper_case_labels_are_found(tmp_path):
    root = folder_tree(tmp_path)
    (root / "labels" / "img_01.png").rename(root / "labels" / "img_01.PNG")
    assert len(ImageFolderDataset(root)) == 10
    Image.open(root / "images" / "img_00.png").save(root / "images" / "img_00.jpg")
    with pytest.raises(DatasetError, match="1 names have several files .*img_00.jpg and img_00.png"):
        ImageFolderDataset(root)


def mixed_sizes(tmp_path):
    root = folder_tree(tmp_path)
    save(np.zeros((30, 40, 3), np.uint8), root / "images" / "img_03.png")
    save(np.zeros((30, 40), np.uint8), root / "labels" / "img_03.png")
    return root


def test_mixed_sizes_without_resize_name_the_files(tmp_path):
    root = mixed_sizes(tmp_path)
    dm = ImageFolderDataModule(str(root), val_root=str(root), batch_size=10, num_workers=0)
    with pytest.raises(DatasetError, match=r"the images of a batch differ in size .*img_03 \(30, 40\).*"
                                           r"set dataset.resize"):
        next(iter(dm.train_dataloader()))
    dm = ImageFolderDataModule(str(root), val_root=str(root), batch_size=10, num_workers=0, validate=True)
    with pytest.raises(DatasetError, match=r"1 of 10 samples have problems:\n  .*img_03.png is 40x30 but "
                                           r".*img_00.png is 32x24"):
        dm.setup("fit")
    ImageFolderDataModule(str(root), val_root=str(root), batch_size=1, validate=True).setup("fit")  # fine


def test_validate_finds_bad_label_values_before_training(tmp_path):
    root = folder_tree(tmp_path)
    label = np.asarray(Image.open(root / "labels" / "img_05.png")).copy()
    label[2, 2] = 9
    save(label, root / "labels" / "img_05.png")
    with pytest.raises(DatasetError, match="img_05.png: label value 9 has no class .* To check every file "
                                           "before training: dataset.validate=true"):
        ImageFolderDataset(root)[5]
    dm = ImageFolderDataModule(str(root), val_root=str(root), num_workers=0, validate=True)
    with pytest.raises(DatasetError, match=r"dataset.validate: 1 of 10 samples have problems:\n  "
                                           r".*img_05.png: label value 9"):
        dm.setup("fit")
    for name in ("cityscapes", "ade20k", "deepfashion", "folder"):
        assert compose_config([f"dataset={name}", "dataset.root=/data"]).dataset.validate is False


# --- convert's output ----------------------------------------------------------------------------------


def test_convert_checks_the_output_before_reading_anything(tmp_path, capsys, monkeypatch):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "read_only").mkdir(mode=0o555)
    if os.geteuid() == 0:                          # root writes anywhere: stand in for a read-only folder
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: real_access(p, mode) and "read_only" not in str(p))
    for output, expected in [(tmp_path, f"the output {tmp_path} is a folder"),
                             (tmp_path / "a_file" / "m.pt", f"{tmp_path / 'a_file'} is a file, not a folder"),
                             (tmp_path / "read_only" / "sub" / "m.pt", "folder .*read_only is not writable")]:
        # the authors' folder does not even exist: the output is checked first
        assert convert.main([str(tmp_path / "no_such_folder"), "--dataset", "ade20k", "-o", str(output)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "no_such_folder" not in err
        assert re.search(expected, err), err


# --- other inputs and files ----------------------------------------------------------------


def test_atomic_writes_remove_stale_temporaries_and_follow_the_umask(tmp_path):
    old = time.time() - 2 * 3600
    for name in (".model.pt.abc123.tmp", ".other.pt.abc123.tmp", ".model.pt.fresh1.tmp"):
        (tmp_path / name).write_bytes(b"left by a kill")
    for name in (".model.pt.abc123.tmp", ".other.pt.abc123.tmp"):
        os.utime(tmp_path / name, (old, old))
    previous = os.umask(0o027)
    try:
        atomic_torch_save({"x": 1}, tmp_path / "model.pt")
    finally:
        os.umask(previous)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".model.pt.fresh1.tmp", ".other.pt.abc123.tmp",
                                                          "model.pt"]   # only this file's old leftovers go
    assert (tmp_path / "model.pt").stat().st_mode & 0o777 == 0o640


def test_convert_without_a_discriminator_prints_no_discriminator_width(reference_dir, tmp_path, capsys):
    assert convert.main([str(reference_dir / "deepfashion"), "--dataset", "deepfashion", "--no-discriminator",
                         "-o", str(tmp_path / "g.pt")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "no discriminator" in lines[0] and "ndf" not in lines[0]
    assert not any(line.split()[0] == "discriminator" for line in lines[1:] if line.strip())


def test_missing_vgg_weights_name_the_options(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match=r"none.pth \(given by loss.vgg_weights\).*download.pytorch.org.*recipe=control"):
        VGG19Features(tmp_path / "none.pth")


def test_classes_file_round_trip_still_loads(tmp_path):
    """The checks accept every value the synthetic exporter writes."""
    root = folder_tree(tmp_path)
    meta = {"name": "mine", "num_classes": 4, "unknown_index": 3, "names": ["a", "b", "c", "d"],
            "palette": [[0, 0, 0], [1, 2, 3], [4, 5, 6], [7, 8, 9]]}
    (root / "classes.yaml").write_text(yaml.safe_dump(meta))
    spec = ImageFolderDataset(root).spec
    assert spec.names == ("a", "b", "c", "d") and spec.palette[1] == (1, 2, 3) and spec.name == "mine"
