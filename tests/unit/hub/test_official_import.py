"""Importing the authors' files: errors that name the file and tensor; the convert CLI."""

import shutil

import pytest
import torch

import smis
from smis.cli import convert
from smis.hub.official import OfficialCheckpointError
from smis.utils import atomic_torch_save
from tests.helpers.reference import load_io


def test_wrong_dataset_names_file_tensor_and_the_fitting_preset(reference_dir):
    with pytest.raises(OfficialCheckpointError) as err:
        smis.load_official(reference_dir / "cityscapes", dataset="deepfashion")
    msg = str(err.value)
    assert "latest_net_E.pth fc_mu.weight (280, 16, 3, 3)" in msg
    assert "dataset='cityscapes'" in msg


def test_wrong_dataset_with_buildable_widths_lists_mismatched_tensors(reference_dir, tmp_path):
    """DeepFashion files read as ADE20K: the structure builds but tensors differ."""
    with pytest.raises(OfficialCheckpointError) as err:
        smis.load_official(reference_dir / "deepfashion", dataset="ade20k")
    msg = str(err.value)
    assert "dataset='deepfashion'" in msg
    assert "latest_net_G.pth: tensor 'G_middle_0.conv_0.weight_orig' has shape (256, 32, 3, 3)" in msg


def test_unknown_dataset_and_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="one of"):
        smis.load_official(tmp_path, dataset="coco")
    with pytest.raises(FileNotFoundError, match="nope"):
        smis.load_official(tmp_path / "nope", dataset="ade20k")


def test_missing_encoder_file_is_named(reference_dir, tmp_path):
    shutil.copy(reference_dir / "deepfashion" / "latest_net_G.pth", tmp_path)
    with pytest.raises(FileNotFoundError, match="latest_net_E.pth"):
        smis.load_official(tmp_path, dataset="deepfashion")


def test_discriminator_is_optional(reference_dir, tmp_path):
    for name in ("latest_net_G.pth", "latest_net_E.pth"):
        shutil.copy(reference_dir / "deepfashion" / name, tmp_path)
    net = smis.load_official(tmp_path, dataset="deepfashion")
    assert net.discriminator is None
    with pytest.raises(FileNotFoundError, match="latest_net_D.pth"):
        smis.load_official(tmp_path, dataset="deepfashion", with_discriminator=True)


def test_tensor_of_wrong_shape_is_named(reference_dir, tmp_path):
    for name in ("latest_net_G.pth", "latest_net_E.pth", "latest_net_D.pth"):
        shutil.copy(reference_dir / "ade20k" / name, tmp_path)
    sd = torch.load(tmp_path / "latest_net_G.pth", weights_only=True)
    sd["up_1.conv_0.bias"] = torch.zeros(7)
    torch.save(sd, tmp_path / "latest_net_G.pth")
    with pytest.raises(OfficialCheckpointError) as err:
        smis.load_official(tmp_path, dataset="ade20k")
    assert "latest_net_G.pth" in str(err.value) and "'up_1.conv_0.bias' has shape (7,)" in str(err.value)


def test_missing_tensor_is_named(reference_dir, tmp_path):
    for name in ("latest_net_G.pth", "latest_net_E.pth"):
        shutil.copy(reference_dir / "deepfashion" / name, tmp_path)
    sd = torch.load(tmp_path / "latest_net_E.pth", weights_only=True)
    del sd["fc_mu.weight"]
    torch.save(sd, tmp_path / "latest_net_E.pth")
    with pytest.raises(OfficialCheckpointError, match="latest_net_E.pth: tensor 'fc_mu.weight' is missing"):
        smis.load_official(tmp_path, dataset="deepfashion")


def test_corrupt_file_is_named(reference_dir, tmp_path):
    shutil.copy(reference_dir / "deepfashion" / "latest_net_G.pth", tmp_path)
    (tmp_path / "latest_net_E.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(OfficialCheckpointError, match="latest_net_E.pth"):
        smis.load_official(tmp_path, dataset="deepfashion")


def test_ade20k_unused_up_4_is_accepted(reference_dir):
    net = smis.load_official(reference_dir / "ade20k", dataset="ade20k")
    theirs = torch.load(reference_dir / "ade20k" / "latest_net_G.pth", weights_only=True)
    assert torch.equal(net.generator.up_4.conv_0.weight_orig, theirs["up_4.conv_0.weight_orig"])


def test_convert_cli_writes_a_checkpoint_that_reproduces_outputs(reference_dir, tmp_path, capsys):
    out = tmp_path / "cs.pt"
    assert convert.main([str(reference_dir / "cityscapes"), "--dataset", "cityscapes",
                         "-o", str(out)]) == 0
    assert "35 classes" in capsys.readouterr().out
    net = smis.load_model(out)
    io = load_io(reference_dir, "cityscapes")
    with torch.no_grad():
        fake = net.decode(io["label"].long(), io["z"], io["instance"].long())
    assert float((fake - io["fake"]).abs().max()) < 1e-5 * float(io["fake"].abs().max())
    assert net.config.extra["dataset"] == "cityscapes"


def test_convert_cli_reports_errors_without_traceback(tmp_path, capsys):
    assert convert.main([str(tmp_path / "missing"), "--dataset", "ade20k"]) == 2
    assert "missing" in capsys.readouterr().err


def test_load_model_rejects_foreign_files(reference_dir, tmp_path):
    with pytest.raises(ValueError, match="not an smis model checkpoint"):
        smis.load_model(reference_dir / "deepfashion" / "latest_net_G.pth")
    with pytest.raises(FileNotFoundError):
        smis.load_model(tmp_path / "none.pt")


def test_interrupted_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    atomic_torch_save({"good": torch.ones(3)}, path)

    def broken_save(obj, f):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        atomic_torch_save({"bad": torch.zeros(3)}, path)
    monkeypatch.undo()
    assert torch.equal(torch.load(path, weights_only=True)["good"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]    # no temporary left behind
