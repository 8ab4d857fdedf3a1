"""Bad data gets a clear error naming the path and what was expected."""

import numpy as np
import pytest
from PIL import Image

from smis.data import (
    ADE20KDataset,
    CityscapesDataset,
    DatasetError,
    DeepFashionDataset,
    ImageFolderDataModule,
    ImageFolderDataset,
)
from tests.helpers.data_trees import ade20k_tree, cityscapes_tree, deepfashion_tree, folder_tree, save


def test_missing_root_shows_the_layout(tmp_path):
    with pytest.raises(DatasetError, match=r"folder not found: .*nowhere(.|\n)*leftImg8bit"):
        CityscapesDataset(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="annotations"):
        ADE20KDataset(tmp_path / "nowhere")


def test_missing_split_folder(tmp_path):
    root = deepfashion_tree(tmp_path)
    import shutil
    shutil.rmtree(root / "cihp_test_mask")
    with pytest.raises(DatasetError, match=r"cihp_test_mask(.|\n)*Expected layout"):
        DeepFashionDataset(root, "test")


def test_no_pairs(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    with pytest.raises(DatasetError, match="no image/label pairs"):
        ImageFolderDataset(tmp_path, num_classes=3)


def test_unpaired_files_are_listed_or_skipped_and_counted(tmp_path):
    root = folder_tree(tmp_path)
    (root / "labels" / "img_03.png").unlink()
    save(np.zeros((24, 32), np.uint8), root / "labels" / "stray.png")
    with pytest.raises(DatasetError) as err:
        ImageFolderDataset(root)
    msg = str(err.value)
    assert "1 images without labels (e.g. img_03.png)" in msg
    assert "1 labels without images (e.g. stray.png)" in msg and "skip_unpaired" in msg
    data = ImageFolderDataset(root, skip_unpaired=True)
    assert len(data) == 9 and data.skipped == 2
    dm = ImageFolderDataModule(str(root), skip_unpaired=True, num_workers=0)
    with pytest.warns(UserWarning, match="left out 2 unpaired files"):
        dm.setup()


def test_label_value_without_a_class_names_file_and_value(tmp_path):
    root = cityscapes_tree(tmp_path)
    bad = root / "gtFine/val/lindau/lindau_000000_000001_gtFine_labelIds.png"
    label = np.asarray(Image.open(bad)).copy()
    label[3, 3] = 40
    save(label, bad)
    data = CityscapesDataset(root, "val")
    with pytest.raises(DatasetError, match=r"lindau_000000_000001_gtFine_labelIds.png: label value 40"):
        data[1]
    label[3, 3] = 255            # Cityscapes has no unknown index: 255 is an error too
    save(label, bad)
    with pytest.raises(DatasetError, match="label value 255"):
        data[1]


def test_ade20k_value_above_150_is_an_error_but_255_is_unknown(tmp_path):
    root = ade20k_tree(tmp_path)
    path = root / "annotations/validation/ADE_val_00000001.png"
    label = np.asarray(Image.open(path)).copy()
    data = ADE20KDataset(root, "val")
    assert (data[0]["label"][0, :, -1] == 150).all()            # the tree's 255 column: unknown
    for value in (151, 200):                                    # 151 would land on the unknown slot
        label[0, 0] = value
        save(label, path)
        expected = f"label value {value} has no class .expected file values 1..150, or 0 and 255 for unknown"
        with pytest.raises(DatasetError, match=expected):
            data[0]


def test_corrupt_file_is_named(tmp_path):
    root = folder_tree(tmp_path)
    (root / "images" / "img_02.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DatasetError, match=r"img_02.png: cannot be read as an image"):
        ImageFolderDataset(root)[2]


def test_image_and_label_of_different_sizes(tmp_path):
    root = folder_tree(tmp_path)
    save(np.zeros((20, 30), np.uint8), root / "labels" / "img_01.png")
    with pytest.raises(DatasetError, match=r"img_01.png is 30x20 but its image .*img_01.png is 32x24"):
        ImageFolderDataset(root)[1]


def test_colour_label_map_is_rejected(tmp_path):
    root = folder_tree(tmp_path)
    save(np.zeros((24, 32, 3), np.uint8), root / "labels" / "img_00.png")
    with pytest.raises(DatasetError, match="colourised label map"):
        ImageFolderDataset(root)[0]


def test_missing_class_count(tmp_path):
    root = folder_tree(tmp_path, classes_file=False)
    with pytest.raises(DatasetError, match="num_classes"):
        ImageFolderDataset(root)


def test_cityscapes_needs_instance_maps(tmp_path):
    root = cityscapes_tree(tmp_path)
    for p in (root / "gtFine/val").rglob("*_instanceIds.png"):
        p.unlink()
    with pytest.raises(DatasetError, match="instanceIds"):
        CityscapesDataset(root, "val")
