"""FID and LPIPS diversity metrics with randomly initialised weights saved in the published formats
(nothing is downloaded); FID is checked against torch-fidelity's own implementation."""

import math
import types

import pytest
import torch
import torch_fidelity
import torch_fidelity.feature_extractor_inceptionv3 as tf_inception
import torchvision

from smis.evaluation.diversity import (
    ALEXNET_FILE,
    class_diversity,
    load_lpips,
    masked_pairwise_lpips,
    mean_pairwise_lpips,
    summarize,
)
from smis.evaluation.fid import FID, INCEPTION_FILE, real_stats_path, to_uint8
from smis.weights import MissingWeightsError
from tests.helpers.evaluation import Uint8Images
from tests.helpers.weight_files import random_alexnet_file, random_inception_file

# --- FID --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def inception_weights(tmp_path_factory):
    return random_inception_file(tmp_path_factory.mktemp("inception"))


def image_sets(n=12, size=48):
    """Two different sets of images in [-1,1]: (n,3,size,size) each."""
    g = torch.Generator().manual_seed(1)
    a = torch.rand(n, 3, size, size, generator=g) * 2 - 1
    b = (torch.rand(n, 3, size, size, generator=g) * 1.2 - 0.4).clamp(-1, 1)
    b[:, 0] = b[:, 0].roll(7, dims=-1)
    return a, b


def test_inception_file_is_torch_fidelitys():
    assert tf_inception.URL_INCEPTION_V3.endswith("/" + INCEPTION_FILE)


def test_fid_matches_torch_fidelity(inception_weights):
    a, b = image_sets()
    fid = FID(inception_weights, feature=64, batch_size=5)   # several batches: streaming
    fid.update(a, real=True)
    fid.update(b, real=False)
    ours = fid.compute()
    reference = torch_fidelity.calculate_metrics(
        input1=Uint8Images(to_uint8(b)), input2=Uint8Images(to_uint8(a)), fid=True,
        feature_layer_fid="64", feature_extractor_weights_path=str(inception_weights),
        cuda=False, cache=False, verbose=False, save_cpu_ram=True)["frechet_inception_distance"]
    assert ours > 0
    # 1e-7 apart in practice; torchmetrics' default antialiased resize would be ~3e-3 off.
    assert ours == pytest.approx(reference, rel=1e-5)


def test_fid_identical_sets_and_cached_real_stats(inception_weights, tmp_path):
    a, b = image_sets()
    fid = FID(inception_weights, feature=64)
    fid.update(a, real=True)
    path = fid.save_real_stats(real_stats_path(tmp_path, "cityscapes", "val", 48, 48, feature=64))
    assert path.name == "fid_real_cityscapes_val_48x48_f64.pt"
    fid.update(a, real=False)
    fid.update(b, real=False)
    mixed = fid.compute()
    fid.reset()
    fid.update(a, real=False)
    assert abs(fid.compute()) < 1e-3 * mixed

    cached = FID(inception_weights, feature=64)
    assert not cached.has_real_stats
    assert not cached.load_real_stats(tmp_path / "absent.pt")
    assert cached.load_real_stats(path) and cached.has_real_stats
    cached.update(torch.cat([a, b]), real=False)
    assert cached.compute() == pytest.approx(mixed, rel=1e-6)


def test_fid_missing_weights_names_the_file(tmp_path, monkeypatch):
    with pytest.raises(MissingWeightsError, match=INCEPTION_FILE):
        FID(tmp_path / "nowhere.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))   # an empty hub cache
    with pytest.raises(MissingWeightsError, match=r"(?s)hub.checkpoints.*" + INCEPTION_FILE):
        FID()


# --- LPIPS ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lpips_model(tmp_path_factory):
    """LPIPS on a random AlexNet saved as a torchvision alexnet state_dict file."""
    return load_lpips(random_alexnet_file(tmp_path_factory.mktemp("alexnet")))


def test_lpips_backbone_is_the_given_file(lpips_model, tmp_path):
    assert not lpips_model.training
    assert not any(p.requires_grad for p in lpips_model.parameters())
    alexnet = torchvision.models.alexnet(weights=None)
    torch.save(alexnet.state_dict(), tmp_path / ALEXNET_FILE)
    model = load_lpips(tmp_path / ALEXNET_FILE)
    assert torch.equal(getattr(model.net.slice2, "3").weight, alexnet.features[3].weight)
    assert torch.equal(getattr(model.net.slice5, "10").bias, alexnet.features[10].bias)
    assert lpips_model.lin0.model[1].weight.abs().sum() > 0   # the shipped heads, not zeros


def test_lpips_missing_backbone_names_the_file(tmp_path, monkeypatch):
    with pytest.raises(MissingWeightsError, match=ALEXNET_FILE):
        load_lpips(tmp_path / "nowhere.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MissingWeightsError, match=r"download\.pytorch\.org/models/" + ALEXNET_FILE):
        load_lpips()


def test_pairwise_lpips(lpips_model):
    images = torch.rand(4, 3, 64, 64) * 2 - 1
    same = images[:1].repeat(3, 1, 1, 1)
    assert mean_pairwise_lpips(lpips_model, same) == 0
    assert masked_pairwise_lpips(lpips_model, same, torch.rand(64, 64) > 0.5) == (0, 0)

    with torch.no_grad():
        loop = [lpips_model(images[i:i + 1], images[j:j + 1]).item()
                for i in range(4) for j in range(i + 1, 4)]
    ours = mean_pairwise_lpips(lpips_model, images, batch_size=4)   # 6 pairs in two batches
    assert ours == pytest.approx(sum(loop) / len(loop), rel=1e-5)
    assert not lpips_model.spatial   # the temporary spatial switch is undone


class PaintByClass:
    """A GroupDNet-like decoder: each class region gets a colour from its own code only,
    colour_j = tanh(mean of channel 8c+j), j = 0..2, plus a fixed texture; `ignore` gets a fixed colour."""

    def __init__(self, ignore=None, num_classes=3):
        self.ignore = ignore
        # what class_diversity reads of a GroupDNet: its latent layout (8 channels per class)
        self.config = types.SimpleNamespace(num_classes=num_classes, latent_per_class=8)

    def decode(self, label, z, instance=None):
        b, _, h, w = label.shape
        texture = 0.3 * torch.sin(torch.arange(w) / 3.0).expand(h, w)
        out = torch.zeros(b, 3, h, w)
        for c in range(z.shape[1] // 8):
            colour = torch.tanh(z[:, 8 * c:8 * c + 3].mean((2, 3)))   # (b,3)
            if c == self.ignore:
                colour = torch.full_like(colour, 0.2)
            out = torch.where(label == c, 0.7 * colour[:, :, None, None] + texture, out)
        return out


def scene():
    """label (1,1,64,64) with classes 0 (background), 1 (square), 2 (stripe); z (1,24,2,2)."""
    label = torch.zeros(1, 1, 64, 64, dtype=torch.long)
    label[..., 10:40, 12:44] = 1
    label[..., 50:60, :] = 2
    return label, torch.randn(1, 24, 2, 2)


def test_class_diversity_of_a_disentangled_decoder(lpips_model):
    label, z = scene()
    g = torch.Generator().manual_seed(0)
    result = class_diversity(PaintByClass(), lpips_model, label, z, k=3, generator=g, blank=True)
    assert sorted(result) == [0, 1, 2]
    for csd, ocd in result.values():
        assert csd > 1e-3
        assert ocd < 1e-6
    literal = class_diversity(PaintByClass(), lpips_model, label, z, k=3, generator=g)   # the paper's
    assert all(csd > ocd for csd, ocd in literal.values())   # no blanking: a little leaks

    ignoring = class_diversity(PaintByClass(ignore=1), lpips_model, label, z, k=3, generator=g,
                               classes=[1])
    assert list(ignoring) == [1] and ignoring[1][0] < 1e-6 and ignoring[1][1] < 1e-6
    with pytest.raises(ValueError, match="class 5"):
        class_diversity(PaintByClass(), lpips_model, label, z, k=3, classes=[5])


def test_blanking_keeps_a_change_inside_from_leaking_outside(lpips_model):
    label, z = scene()
    images = PaintByClass().decode(label.expand(3, -1, -1, -1), torch.randn(3, 24, 2, 2))
    images[:, :, label[0, 0] != 1] = images[0, :, label[0, 0] != 1]   # only class 1 differs
    _, leaked = masked_pairwise_lpips(lpips_model, images, label[0, 0] == 1, blank=False)
    _, outside = masked_pairwise_lpips(lpips_model, images, label[0, 0] == 1, blank=True)
    assert leaked > 1e-4 and outside == 0


def test_summarize():
    results = [{0: (0.4, 0.0), 1: (0.2, 0.1)}, {0: (0.6, math.nan), 2: (0.3, 0.2)}]
    s = summarize(results)
    assert s["per_class"][0] == {"csd": pytest.approx(0.5), "ocd": 0.0, "images": 2}
    assert s["mCSD"] == pytest.approx((0.5 + 0.2 + 0.3) / 3)
    assert s["mOCD"] == pytest.approx((0.0 + 0.1 + 0.2) / 3)
