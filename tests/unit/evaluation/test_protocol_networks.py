"""The segmenters and FID pipelines the evaluation protocols name: both CSAIL UperNet releases' input
conventions and the check that tells their files apart; both FID pipelines against the library each
preset names (torch-fidelity, pytorch-fid)."""

from unittest import mock

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torch_fidelity
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

from smis.evaluation.fid import FID, inception_input, to_pixels, to_uint8
from smis.evaluation.segmenters import upernet101
from smis.evaluation.segmenters.base import IMAGENET_MEAN, IMAGENET_STD
from smis.evaluation.segmenters.upernet import implied_input_scale
from smis.weights import MissingWeightsError
from tests.helpers.evaluation import CLAIMS, PRESETS, Uint8Images
from tests.helpers.weight_files import random_inception_file

# --- both UperNet releases ------------------------------------------------------------------------------


def test_upernet_input_conventions_of_both_releases():
    images = torch.zeros(1, 3, 2, 2)
    images[0, :, 0, 0] = torch.tensor([1.0, -1.0, -1.0])          # pure red
    images[0, :, 1, 1] = torch.tensor([-1.0, 1.0, 0.0])            # green with half blue
    for release in ("ade20k-resnet101-upernet", "baseline-resnet101-upernet"):
        model = upernet101(pretrained=False, release=release)
        seen = []
        model.segment = lambda x, seen=seen: seen.append(x) or torch.zeros(1, 150, 1, 1)
        model(images)
        x = seen[0]
        if release == "baseline-resnet101-upernet":   # BGR, [0,255], minus CSAIL's BGR means, std 1
            mean = torch.tensor([102.9801, 115.9465, 122.7717])
            assert torch.allclose(x[0, :, 0, 0], torch.tensor([0.0, 0.0, 255.0]) - mean)
            assert torch.allclose(x[0, :, 1, 1], torch.tensor([127.5, 255.0, 0.0]) - mean)
        else:                                         # RGB, [0,1], ImageNet mean and std
            mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
            assert torch.allclose(x[0, :, 0, 0], (torch.tensor([1.0, 0.0, 0.0]) - mean) / std)
            assert torch.allclose(x[0, :, 1, 1], (torch.tensor([0.0, 1.0, 0.5]) - mean) / std)


def release_files(folder, input_scale: float):
    """Random UperNet weight files whose stem's BatchNorm was trained on input of the given spread."""
    model = upernet101(pretrained=False)
    enc, dec = model.encoder.state_dict(), model.decoder.state_dict()
    norms = enc["conv1.weight"].flatten(1).norm(dim=1)
    enc["bn1.running_var"] = (input_scale * norms) ** 2
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(enc, folder / "encoder_epoch_50.pth")
    torch.save(dec, folder / "decoder_epoch_50.pth")
    return folder


def test_upernet_files_of_the_other_release_are_a_clear_error(tmp_path, monkeypatch):
    new = release_files(tmp_path / "mine-new", input_scale=1.0)
    old = release_files(tmp_path / "mine-old", input_scale=58.0)
    encoder = torch.load(old / "encoder_epoch_50.pth", weights_only=True)
    assert implied_input_scale(encoder) == pytest.approx(58.0)
    assert upernet101(weights_dir=new).release.name == "ade20k-resnet101-upernet"
    assert upernet101(weights_dir=old, release="baseline-resnet101-upernet").bgr
    with pytest.raises(ValueError, match=r"trained on \[0,255\] input .*uses ade20k-resnet101-upernet"):
        upernet101(weights_dir=old)
    with pytest.raises(ValueError, match=r"normalised \[0,1\] input .*baseline-resnet101-upernet"):
        upernet101(weights_dir=new, release="baseline-resnet101-upernet")
    upernet101(weights_dir=old, check_release=False)          # the user's own call
    named = release_files(tmp_path / "baseline-resnet101-upernet", input_scale=1.0)
    with pytest.raises(ValueError, match="folder named after the baseline-resnet101-upernet release"):
        upernet101(weights_dir=named)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    with pytest.raises(MissingWeightsError, match=r"(?s)baseline-resnet101-upernet/encoder_epoch_50\.pth.*"
                                                  r"model/pytorch/baseline-resnet101-upernet/"):
        upernet101(release="baseline-resnet101-upernet")
    with pytest.raises(ValueError, match="unknown UperNet release 'v3'"):
        upernet101(pretrained=False, release="v3")


# --- both FID pipelines against their libraries ---------------------------------------------------------


def library_input(pixels: torch.Tensor, resize: str) -> torch.Tensor:
    """What each library itself feeds its network's first layer, from 8-bit pixel values."""
    if resize == "torch_fidelity":
        resized = interpolate_bilinear_2d_like_tensorflow1x(pixels, size=(299, 299), align_corners=False)
        return (resized - 128) / 128
    # pytorch-fid: ToTensor gives x / 255; InceptionV3.forward resizes and scales to [-1, 1]
    try:
        from pytorch_fid.inception import InceptionV3
    except ImportError:   # its documented resize, by hand
        return 2 * F.interpolate(pixels / 255, size=(299, 299), mode="bilinear", align_corners=False) - 1
    net = InceptionV3.__new__(InceptionV3)
    torch.nn.Module.__init__(net)
    net.resize_input, net.normalize_input, net.output_blocks, net.last_needed_block = True, True, [0], 0
    net.blocks = torch.nn.ModuleList([torch.nn.Identity()])     # its own preprocessing, then nothing
    return net(pixels / 255)[0]


@pytest.mark.parametrize("name", PRESETS)
def test_fid_pipeline_of_each_preset_matches_its_library(name):
    resize, quantize = CLAIMS[name]["fid"]
    images = torch.rand(2, 3, 37, 53, generator=torch.Generator().manual_seed(0)) * 2 - 1
    pixels = to_pixels(images, quantize)
    assert torch.equal(pixels, to_pixels(images, "round")) == (quantize == "round")
    if quantize != "none":
        assert torch.equal(pixels, to_uint8(images, quantize).float())
    assert torch.allclose(inception_input(pixels, resize), library_input(pixels, resize), atol=1e-6)


def test_truncation_is_tensor2im():
    images = torch.tensor([-1.0, -0.999, 0.0, 0.5, 0.999, 1.0]).view(1, 1, 1, 6).expand(1, 3, 1, 6)
    expected = np.clip((images.numpy() + 1) / 2.0 * 255.0, 0, 255).astype(np.uint8)   # SPADE's tensor2im
    assert np.array_equal(to_uint8(images, "truncate").numpy(), expected)


@pytest.fixture(scope="module")
def inception(tmp_path_factory):
    return random_inception_file(tmp_path_factory.mktemp("inception"))


def image_sets():
    g = torch.Generator().manual_seed(1)
    a = torch.rand(10, 3, 48, 48, generator=g) * 2 - 1
    b = (torch.rand(10, 3, 48, 48, generator=g) * 1.2 - 0.4).clamp(-1, 1)
    return a, b


def test_pytorch_fid_pipeline_matches_pytorch_fid(inception):
    pytest.importorskip("pytorch_fid")
    import pytorch_fid.inception as their_module
    from pytorch_fid.fid_score import calculate_frechet_distance
    from pytorch_fid.inception import InceptionV3

    state = torch.load(inception, weights_only=True)             # the same tensors, their key names
    with mock.patch.object(their_module, "load_state_dict_from_url", lambda *a, **k: state):
        net = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[64]]).eval()
    a, b = image_sets()
    with torch.no_grad():
        feats = [F.adaptive_avg_pool2d(net(to_pixels(x) / 255)[0], 1).flatten(1).double().numpy()
                 for x in (a, b)]
    theirs = calculate_frechet_distance(feats[0].mean(0), np.cov(feats[0], rowvar=False),
                                        feats[1].mean(0), np.cov(feats[1], rowvar=False))
    fid = FID(inception, feature=64, batch_size=4, resize="pytorch_fid")
    fid.update(a, real=True)
    fid.update(b, real=False)
    assert fid.compute() == pytest.approx(theirs, rel=1e-5)
    fidelity = FID(inception, feature=64)                        # the other pipeline scores differently
    fidelity.update(a, real=True)
    fidelity.update(b, real=False)
    assert abs(fidelity.compute() / theirs - 1) > 1e-3


def test_torch_fidelity_pipeline_matches_torch_fidelity(inception):
    a, b = image_sets()
    fid = FID(inception, feature=64, resize="torch_fidelity", quantize="truncate")
    fid.update(a, real=True)
    fid.update(b, real=False)

    reference = torch_fidelity.calculate_metrics(
        input1=Uint8Images(to_uint8(b, "truncate")), input2=Uint8Images(to_uint8(a)), fid=True,
        feature_layer_fid="64",
        feature_extractor_weights_path=str(inception), cuda=False, cache=False, verbose=False,
        save_cpu_ram=True)["frechet_inception_distance"]
    assert fid.compute() == pytest.approx(reference, rel=1e-5)
    with pytest.raises(ValueError, match="8-bit pixels"):
        FID(inception, feature=64, quantize="none")
