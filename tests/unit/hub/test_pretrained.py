"""The shipped model: found by name everywhere a model is taken, deterministic, and with the
per-class control it is shipped for (docs/shipped-model.md), checked on a few held-out scenes."""

import pytest
import torch

import smis
from smis.data import SyntheticScenes
from smis.data.datamodules import VAL_OFFSET
from smis.evaluation.separation import class_separation, summarize_separation, transfer_hits
from smis.hub.pack import pack
from smis.hub.shipped import shipped_path
from smis.latents import LatentLayout
from smis.networks import GroupDNet, preset


@pytest.fixture(scope="module")
def shipped():
    return smis.load_pretrained("synthetic")


@pytest.fixture(scope="module")
def held_out(shipped):
    """6 synthetic scenes no training run sees, at the model's native size."""
    scenes = SyntheticScenes(6, tuple(shipped.spec.native_size), train=False, first_index=VAL_OFFSET + 500)
    return [scenes.scene(i) for i in range(6)]


def test_the_shipped_file_is_small_fp16_and_loads_by_name(shipped):
    path = shipped_path("synthetic")
    assert path.stat().st_size < 16 * 2**20
    payload = torch.load(path, weights_only=True)
    assert {v.dtype for v in payload["state_dict"].values() if v.is_floating_point()} == {torch.float16}
    assert payload["meta"]["fp16_max_decode_error"] <= 1e-2
    assert shipped.discriminator is None and not shipped.training
    assert shipped.spec.name == "synthetic" and min(shipped.spec.native_size) >= 128
    assert next(shipped.parameters()).dtype == torch.float32                 # decoded in fp32
    synth = smis.Synthesizer.load("synthetic", device="cpu")
    assert synth.net.config == shipped.config
    assert smis.load_model("synthetic").config == shipped.config


def test_a_file_of_that_name_wins_and_unknown_names_are_listed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    net = GroupDNet(preset("small", ngf=4, encoder_width=16), with_discriminator=False)
    smis.save_model(net, tmp_path / "synthetic")
    assert smis.load_model("synthetic").config == net.config
    with pytest.raises(ValueError, match="no shipped model named 'cityscapes'; shipped: synthetic"):
        smis.load_pretrained("cityscapes")


def test_decoding_is_deterministic(shipped, held_out):
    synth = smis.Synthesizer(shipped, device="cpu")
    label = held_out[0][1]
    first = torch.stack(synth.sample(label, [3, 4], size="input", output="tensor").images)
    again = torch.stack(synth.sample(label, [3, 4], size="input", output="tensor").images)
    assert torch.equal(first, again) and not torch.equal(first[0], first[1])


def test_one_class_redraws_stay_in_their_class_and_codes_carry_the_look(shipped, held_out):
    """On 6 held-out scenes: the separation target of the model card (met by the shipped model
    on 50 label maps too; docs/shipped-model.md), and codes that are not collapsed: an image decoded
    from its own codes is much closer to it than from another image's, and a copied class code
    carries the reference's colour (26 of 26 pairs here; 91.6% of 1,019 pairs on 256 scenes)."""
    layout = LatentLayout.of(shipped)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        results, hits = [], []
        for _, label in held_out:
            z = shipped.sample_z(1, *label.shape[1:], generator=g)
            results.append(class_separation(shipped.decode, layout, label[None], z, 3, g))
        codes = [shipped.encode(image[None], label[None])[0] for image, label in held_out]
        recon = [(shipped.decode(label[None], mu) - image).abs().mean() for (image, label), mu
                 in zip(held_out, codes)]
        swapped = [(shipped.decode(label[None], mu) - image).abs().mean() for (image, label), mu
                   in zip(held_out, codes[1:] + codes[:1])]
        for t, r in [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 0)]:
            (t_image, t_label), (r_image, r_label) = held_out[t], held_out[r]
            hits += transfer_hits(shipped.decode, layout, (t_image[None], t_label[None], codes[t]),
                                  (r_image[None], r_label[None], codes[r])).values()
    summary = summarize_separation(results)
    assert summary["separation"] <= 0.10 and summary["inside"] >= 0.05
    assert float(torch.stack(recon).mean()) < 0.75 * float(torch.stack(swapped).mean())
    assert sum(hits) / len(hits) >= 0.85


def test_the_shipped_encoder_sees_how_bright_a_class_is(shipped, held_out):
    """encoder_mean_colour: halving one class's pixels moves that class's code (the authors'
    encoder cannot tell: tests/unit/networks/test_present_encoding.py) and no other class's."""
    assert shipped.config.encoder_mean_colour
    image, label = held_out[0]
    C, L = shipped.config.num_classes, shipped.config.latent_per_class
    with torch.no_grad():
        mu = shipped.encode(image[None], label[None])[0].view(C, L, -1)
        for c in label.unique().tolist():
            darker = torch.where(label == c, 0.5 * image, image)
            moved = (shipped.encode(darker[None], label[None])[0].view(C, L, -1) - mu).abs()
            assert moved[c].max() > 0.1, c
            assert moved[torch.arange(C) != c].max() == 0, c


def test_pack_refuses_a_lossy_fp16_file_and_writes_nothing(tmp_path):
    from tests.helpers.studio import tiny_net  # a small net whose decodes are finite and varied

    source = smis.save_model(tiny_net(), tmp_path / "model.pt")
    with pytest.raises(ValueError, match="fp16 storage changes a decode"):
        pack(source, tmp_path / "shipped.pt", tolerance=0.0)
    assert not (tmp_path / "shipped.pt").exists()
    packed = pack(source, tmp_path / "shipped.pt", card="test")
    assert torch.load(packed, weights_only=True)["meta"]["card"] == "test"


def test_a_folder_named_like_the_shipped_model_does_not_hide_it(tmp_path, monkeypatch):
    """`smis-generate ... -o synthetic` makes an output folder; `-m synthetic` still means the
    shipped model afterwards (a folder counts as a model only when it holds the authors' files)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "synthetic").mkdir()
    (tmp_path / "synthetic" / "street_000.png").write_bytes(b"")
    assert smis.load_model("synthetic").config == smis.load_pretrained("synthetic").config
