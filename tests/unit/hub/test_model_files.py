"""Model files describe themselves: the dataset spec travels with the weights, and files written by
smis 0.1 (before specs were stored) still load."""

import dataclasses

import pytest
import torch

from smis import load_model, load_official, save_model
from smis.data import CITYSCAPES, DEEPFASHION, SYNTHETIC, DatasetSpec, LabelRule
from smis.networks import GroupDNet, preset
from tests.helpers.paths import DATA


def test_save_and_load_carry_the_dataset_spec(tmp_path):
    spec = DatasetSpec("mine", ("ground", "wall", "sky", "void"),
                       ((1, 2, 3), (4, 5, 6), (7, 8, 9), (0, 0, 0)), LabelRule(unknown_index=3),
                       native_size=(128, 256))
    net = GroupDNet(preset("small", num_classes=4, ngf=2, encoder_width=8), with_discriminator=False)
    net.spec = spec
    loaded = load_model(save_model(net, tmp_path / "model.pt"))
    assert loaded.spec == spec and loaded.spec.names[1] == "wall" and loaded.spec.native_size == (128, 256)
    assert loaded.spec.to_class_ids(torch.tensor([0, 255])).tolist() == [0, 3]     # the label-file rule
    net.spec = None
    assert load_model(save_model(net, tmp_path / "bare.pt")).spec is None


def test_a_file_written_by_smis_0_1_still_loads():
    # tests/data/model_v1.pt was written by smis 0.1's save_model (version 1: dataset name and class
    # names in meta, encoder_layers in the config); model_v1_io.pt holds what it decoded then.
    net = load_model(DATA / "model_v1.pt")
    io = torch.load(DATA / "model_v1_io.pt", weights_only=True)
    assert net.spec == SYNTHETIC
    with torch.no_grad():
        assert torch.equal(net.decode(io["label"], io["z"]), io["fake"])


def test_training_checkpoints_and_exports_carry_the_spec(trained_synthetic):
    run_dir = trained_synthetic["run_dir"]
    trained = dataclasses.replace(SYNTHETIC, native_size=(64, 128))   # the size it trained at
    assert load_model(trained_synthetic["model_path"]).spec == trained
    assert load_model(run_dir / "checkpoints" / "last.ckpt").spec == trained


def test_the_authors_files_get_the_spec_of_their_dataset(reference_dir):
    assert load_official(reference_dir / "deepfashion", "deepfashion").spec == DEEPFASHION
    assert load_official(reference_dir / "cityscapes", "cityscapes").spec == CITYSCAPES
    # the ADE20K reference model has 15 classes, not ADE20K's 151: no names to carry
    assert load_official(reference_dir / "ade20k", "ade20k").spec is None


def test_an_unknown_encoder_depth_in_an_old_file_is_an_error(tmp_path):
    payload = torch.load(DATA / "model_v1.pt", weights_only=True)
    payload["config"]["encoder_layers"] = 5
    torch.save(payload, tmp_path / "five.pt")
    with pytest.raises(ValueError, match="encoder_layers must be 6"):
        load_model(tmp_path / "five.pt")


def test_a_file_from_a_newer_smis_is_refused_by_name(tmp_path):
    """Version 3 added encoder_mean_colour to the config: a reader that predates a version says
    so instead of failing on an unknown config key."""
    config = preset("small", ngf=4, encoder_width=16, encoder_mean_colour=True)
    net = GroupDNet(config, with_discriminator=False)
    payload = torch.load(save_model(net, tmp_path / "model.pt"), weights_only=True)
    assert payload["version"] == 3 and payload["config"]["encoder_mean_colour"] is True
    payload["version"] = 4
    torch.save(payload, tmp_path / "newer.pt")
    with pytest.raises(ValueError, match="newer.pt: checkpoint version 4 is newer than this smis"):
        load_model(tmp_path / "newer.pt")
