"""One training step of our LightningModule against the authors' own code (`train_step/` beside
$SMIS_REFERENCE_DIR, see docs/faithfulness.md; made by their SmisModel and Pix2PixTrainer in
float64 from the checkpoints in ../official): the G step's and the D step's losses, every gradient
right before each optimiser step, the weights after Adam's first step and every buffer
(spectral-norm vectors, batch-norm statistics) after both steps."""

from __future__ import annotations

import pytest
import torch
import torchvision
from omegaconf import OmegaConf

from smis.config import CONFIG_DIR
from smis.hub import load_official
from smis.training import GroupDNetModule

PRESETS = ["deepfashion", pytest.param("cityscapes", marks=pytest.mark.slow),
           pytest.param("ade20k", marks=pytest.mark.slow)]
# their G step's terms and D step's terms, by our names
G_TERMS = {"gan": "GAN", "feat": "GAN_Feat", "kld": "KLD", "vgg": "VGG"}
D_TERMS = {"d_fake": "D_Fake", "d_real": "D_real"}


def relative(ours: torch.Tensor, theirs: torch.Tensor, floor: float = 0.0) -> float:
    """max |ours - theirs| / max |theirs| (docs/faithfulness.md's measure); `floor` bounds the denominator
    from below for tensors that are round-off on both sides (a bias before a batch norm has a
    true gradient of 0)."""
    ours, theirs = ours.detach().double(), theirs.double()
    return float((ours - theirs).abs().max() / max(float(theirs.abs().max()), floor, 1e-300))


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    """The random VGG19 the reference step used: torchvision's initialisation after seed 1000."""
    torch.manual_seed(1000)
    path = tmp_path_factory.mktemp("vgg") / "vgg19_seed1000.pth"
    torch.save(torchvision.models.vgg19(weights=None).state_dict(), path)
    return path


@pytest.mark.parametrize("preset", PRESETS)
def test_one_step_equals_the_authors_step_in_float64(preset, reference_dir, vgg_file, monkeypatch):
    step_file = reference_dir.parent / "train_step" / preset / "step.pt"
    if not step_file.is_file():
        pytest.skip(f"the authors' training step is not at {step_file}")
    ref = torch.load(step_file, weights_only=True)
    authors = load_official(reference_dir / preset, preset)
    optim = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "optim" / "authors.yaml"))
    loss = {**OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "loss" / "authors.yaml")),
            "vgg_weights": str(vgg_file)}
    o = ref["options"]                                    # their TTUR: G+E at lr/2, D at 2 lr
    assert (optim["lr_g"], optim["lr_d"], optim["beta1"], optim["beta2"]) == (
        o["lr"] / 2, o["lr"] * 2, o["beta1"], o["beta2"])
    assert (loss["feat"], loss["vgg"], loss["kld"]) == (o["lambda_feat"], o["lambda_vgg"], o["lambda_kld"])
    module = GroupDNetModule(authors.config.to_dict(), optim, loss)
    module.net.load_state_dict(authors.state_dict())
    module = module.double().train()
    start = {k: v.clone() for k, v in module.net.named_parameters()}

    noise = [ref["eps_g"], ref["eps_d"]]                  # the G step's encode, then the D step's fake
    monkeypatch.setattr(module.net, "reparameterize",
                        lambda mu, logvar, generator=None: mu + noise.pop(0) * torch.exp(0.5 * logvar))
    grads = {}

    def backward_into(*parts):
        def backward(loss):
            loss.backward()
            for part in parts:
                named = getattr(module.net, part).named_parameters()
                grads.update({(part, k): p.grad.clone() for k, p in named if p.grad is not None})
        return backward

    image, label = ref["image"].double(), ref["label"].long()
    instance = ref["instance"].long() if "instance" in ref else None
    opt_g, opt_d = module.configure_optimizers()
    g_terms, fake, _ = module.generator_step(opt_g, image, label, instance, None,
                                             backward_into("generator", "encoder"))
    d_terms, _, _ = module.discriminator_step(opt_d, image, label, instance, None, fake,
                                              backward_into("discriminator"))
    assert not noise                                       # both draws were used, in that order

    for ours, theirs in [*G_TERMS.items(), *D_TERMS.items()]:
        value = {**g_terms, **d_terms}[ours]
        expected = {**ref["g_losses"], **ref["d_losses"]}[theirs]
        assert relative(value, expected) < 1e-7, (ours, float(value), float(expected))
    for part, key in (("generator", "grad_G"), ("encoder", "grad_E"), ("discriminator", "grad_D")):
        assert ref[key].keys() == {k for p, k in grads if p == part}, part
        floor = 1e-6 * max(float(g.abs().max()) for g in ref[key].values())
        worst = max((relative(grads[part, k], g, floor), k) for k, g in ref[key].items())
        assert worst[0] < 1e-6, (part, worst)               # their gradients are stored in float32
        lr = optim["lr_d"] if part == "discriminator" else optim["lr_g"]
        weights = dict(module.net.named_parameters())
        for k, g in ref[key].items():                       # Adam's first step with beta1 = 0
            g = g.double()
            expected = start[f"{part}.{k}"] - lr * g / (g.abs() + 1e-8)
            torch.testing.assert_close(weights[f"{part}.{k}"].detach(), expected, rtol=0, atol=lr * 1e-4,
                                       msg=f"{part}.{k}")
    for part, key in (("generator", "buffers_G"), ("encoder", "buffers_E"), ("discriminator", "buffers_D")):
        buffers = dict(getattr(module.net, part).named_buffers())
        for k, b in ref[key].items():
            if k.endswith("num_batches_tracked"):         # unused with a momentum; their sync BN keeps none
                continue
            assert relative(buffers[k], b) < 1e-7, (part, k, relative(buffers[k], b))
