"""The named loss additions' extra decodes (off in the authors' presets): what they feed the generator."""

import torch

from smis.data.synthetic import voronoi_labels as scene
from smis.networks import preset
from smis.training import GroupDNetModule
from tests.helpers.reference import AUTHORS_LOSS as LOSS
from tests.helpers.reference import AUTHORS_OPTIM as OPTIM


def small_module(**loss):
    torch.manual_seed(0)
    config = preset("small", ngf=8, ndf=8).to_dict()
    # sigma = exp(-30) ~ 0: the sampled codes are the encoded mu, so they can be compared
    return GroupDNetModule(config, OPTIM, {**LOSS, "vgg": 0.0, "vgg_weights": "random", **loss},
                           encoder_init={"head_gain": 1.0, "logvar_bias": -60.0})


def test_flipped_codes_decode_the_label_map_from_the_flipped_images_codes():
    module = small_module(flipped_codes=1.0, flipped_codes_fraction=1.0)
    label, _ = scene(2, 8, 64, 128)
    image = torch.rand(2, 3, 64, 128, generator=torch.Generator().manual_seed(1)) * 2 - 1
    decoded = []
    module.net.decode = lambda lab, z, instance=None: decoded.append((lab, z)) or z
    module.net.encoder.eval()             # spectral norm's power iteration would move mu between calls
    with torch.no_grad():
        own = module.net.encode(image, label)[0]
        flips = {dims: module.net.encode(image.flip(dims), label.flip(dims))[0]
                 for dims in [(3,), (2,), (2, 3)]}
        seen = set()
        for seed in range(8):
            module.decode_from_flipped(image, label, None, torch.Generator().manual_seed(seed))
            lab, z = decoded.pop()
            assert torch.equal(lab, label)                      # the image's own label map is decoded
            match = [d for d, mu in flips.items() if torch.allclose(z, mu, atol=1e-5)]
            assert len(match) == 1 and not torch.allclose(z, own, atol=1e-3)
            seen.add(match[0])
    assert len(seen) >= 2                                       # the flip is drawn per step


def test_flipped_codes_fraction_zero_adds_nothing():
    module = small_module(flipped_codes=1.0, flipped_codes_fraction=0.0)
    label, _ = scene(1, 8, 64, 128)
    image = torch.zeros(1, 3, 64, 128)
    assert module.decode_from_flipped(image, label, None, torch.Generator().manual_seed(0)) is None
