"""A training step reads no tensor back to the host (no .item(), bool(), float(), int() of a tensor)
when the finite check is deferred (finite_check_every > 1): on a GPU each such read waits for every
kernel queued before it, so one in the middle of a step leaves the chip idle while the host catches
up. Counted here on the CPU, with every loss addition and the EMA on."""

import pytest
import torch

from smis.data.synthetic import voronoi_labels as scene
from smis.networks import preset
from smis.training import GroupDNetModule
from smis.training.module import encoder_health
from tests.helpers.reference import AUTHORS_LOSS as LOSS
from tests.helpers.reference import AUTHORS_OPTIM as OPTIM

READS = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__")


class NoStep:
    """An optimiser that changes nothing (Adam's own step counter is a host value by design)."""

    def zero_grad(self, set_to_none=True):
        pass

    def step(self):
        pass


@pytest.mark.parametrize("d_reuses_fake", [False, True])
def test_a_training_step_reads_no_tensor_back(monkeypatch, d_reuses_fake):
    torch.manual_seed(0)
    config = preset("small", ngf=8, ndf=8).to_dict()
    loss = {**LOSS, "vgg": 0.0, "vgg_weights": "random", "l1": 1.0, "isolation": 1.0, "flipped_codes": 1.0}
    module = GroupDNetModule(config, {**OPTIM, "d_reuses_fake": d_reuses_fake}, loss, ema_decay=0.999,
                             finite_check_every=100)
    for norm in module.net.modules():
        if hasattr(norm, "border_path"):
            norm.border_path = False       # a CPU-only path that reads the label windows by design
    label, _ = scene(2, module.net.config.num_classes, 64, 128)
    image = torch.rand(2, 3, 64, 128, generator=torch.Generator().manual_seed(1)) * 2 - 1
    reads = []
    for name in READS:
        real = getattr(torch.Tensor, name)

        def counted(self, *args, _real=real, _name=name, **kwargs):
            reads.append(_name)
            return _real(self, *args, **kwargs)
        monkeypatch.setattr(torch.Tensor, name, counted)
    noise = torch.Generator().manual_seed(0)
    backward = torch.Tensor.backward
    terms, fake, (mu, logvar) = module.generator_step(NoStep(), image, label, None, noise, backward)
    module.discriminator_step(NoStep(), image, label, None, noise, fake, backward)
    health = encoder_health(mu, logvar, label, module.net.config.latent_per_class)
    monkeypatch.undo()
    assert {"isolation", "flipped_codes", "l1"} <= set(terms)      # every addition ran
    assert set(health) == {"sigma", "mu_std"}
    assert reads == [], f"the step read tensors back: {reads}"
    module.read_finite()                                            # the deferred check still works
