"""smis-fit-prior writes a model with its appearance prior; the shipped model's sampled looks are
as varied as the data's with it, and half as varied without it (N(0, I))."""

import pytest
import torch

from smis.cli import fit_prior
from smis.data import SyntheticScenes
from smis.data.datamodules import VAL_OFFSET
from smis.evaluation.looks import LookSpread
from smis.hub import load_model, load_pretrained
from smis.hub.shipped import shipped_path
from smis.weights import safe_load


def test_fit_prior_writes_the_model_with_its_prior_and_keeps_the_stored_weights(tmp_path, capsys):
    out = tmp_path / "with_prior.pt"
    fit_prior.main(["synthetic", "-o", str(out), "--images", "16", "--temperature", "0.5"])
    assert f"wrote {out}" in capsys.readouterr().out
    before, after = safe_load(shipped_path("synthetic")), safe_load(out)
    assert after["state_dict"].keys() == before["state_dict"].keys()
    assert all(torch.equal(after["state_dict"][k], v) for k, v in before["state_dict"].items())   # fp16 kept
    assert after["meta"]["seed"] == before["meta"]["seed"]
    assert "16 training images of synthetic" in after["meta"]["prior_fit"]
    prior = load_model(out).prior
    assert prior.temperature == 0.5 and max(len(v) for v in prior.codes.values()) <= 16
    assert prior.grid == (2, 2)                                            # 128x128 / 64


@pytest.mark.parametrize("args, message", [
    (["--temperature", "2"], "--temperature 2.0: expected a number in [0, 1]"),
    (["--images", "0"], "--images 0: expected a positive integer"),
    (["dataset=nonexistent"], "nonexistent"),
])
def test_fit_prior_errors(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as e:
        fit_prior.main(["synthetic", "-o", str(tmp_path / "x.pt"), *args])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "x.pt").exists()


def test_fit_prior_does_not_replace_a_file_unless_asked(tmp_path, capsys):
    out = tmp_path / "model.pt"
    out.write_bytes(b"precious")
    with pytest.raises(SystemExit) as e:
        fit_prior.main(["synthetic", "-o", str(out), "--images", "8"])
    assert e.value.code == 2 and "--overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"


def test_the_shipped_models_sampled_looks_vary_as_the_data_does():
    """16 held-out label maps x 4 draws against 64 held-out scenes' looks (a fast check of the
    model card's figures, which use 32 maps and 256 scenes)."""
    net = load_pretrained("synthetic")
    assert net.prior is not None
    scenes = SyntheticScenes(64, 128, seed=0, train=False, first_index=VAL_OFFSET)
    fitted, normal = LookSpread(8), LookSpread(8)
    g_fitted, g_normal = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    with torch.no_grad():
        for i in range(64):
            image, label = scenes.scene(i)
            fitted.add_real(image[None], label[None])
            normal.add_real(image[None], label[None])
            if i < 16:
                labels = label[None].expand(4, -1, -1, -1)
                for spread, prior, g in ((fitted, net.prior, g_fitted), (normal, None, g_normal)):
                    z = net.sample_z(4, 128, 128, generator=g, prior=prior)
                    spread.add_sampled(net.decode(labels, z), labels)
    with_prior, without = fitted.summary(), normal.summary()
    assert with_prior["ratio"] >= 0.75 and with_prior["coverage"] >= 0.8
    assert without["ratio"] <= 0.65                       # what the prior fixes
