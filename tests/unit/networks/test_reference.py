"""Our networks reproduce the authors' tensors from their checkpoints (docs/faithfulness.md)."""

import pytest
import torch

import smis
from tests.helpers.reference import DATASETS, load_io


def rel_err(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return float((ours - theirs).abs().max() / theirs.abs().max())


@pytest.fixture(scope="module", params=DATASETS)
def loaded(request, reference_dir):
    dataset = request.param
    io = load_io(reference_dir, dataset)
    net = smis.load_official(reference_dir / dataset, dataset=dataset)
    return dataset, io, net


def _inputs(io):
    label = io["label"].long()
    instance = io["instance"].long() if "instance" in io else None
    return io["image"], label, instance


def test_loaded_in_eval_mode_with_inferred_widths(loaded):
    dataset, io, net = loaded
    opts = io["options"]
    assert not net.training
    assert net.config.num_classes == opts["semantic_nc"]
    assert net.config.encoder_width == opts["enc_ndf"]
    assert net.config.ndf == opts["ndf"]
    assert net.config.instance_edges == (not opts["no_instance"])


def test_encoder_matches(loaded):
    _, io, net = loaded
    image, label, instance = _inputs(io)
    with torch.no_grad():
        mu, logvar = net.encode(image, label, instance)
    assert mu.shape == io["mu"].shape
    assert rel_err(mu, io["mu"]) < 1e-5
    assert rel_err(logvar, io["logvar"]) < 1e-5


def test_generator_matches(loaded):
    _, io, net = loaded
    _, label, instance = _inputs(io)
    with torch.no_grad():
        fake = net.decode(label, io["z"], instance)
    assert fake.shape == io["fake"].shape
    assert rel_err(fake, io["fake"]) < 1e-5


def test_discriminator_matches(loaded):
    _, io, net = loaded
    image, label, instance = _inputs(io)
    both = torch.cat([io["fake"], image])                       # fake first, as the reference
    label2 = torch.cat([label, label])
    inst2 = None if instance is None else torch.cat([instance, instance])
    with torch.no_grad():
        logits = net.discriminate(label2, both, inst2)
    assert len(logits) == len(io["d_logits"]) == 2
    for ours, theirs in zip(logits, io["d_logits"]):
        assert ours.shape == theirs.shape
        assert rel_err(ours, theirs) < 1e-5


def test_cityscapes_edges_matter(reference_dir):
    """The instance-edge path is live: dropping the instance edges changes the output."""
    io = load_io(reference_dir, "cityscapes")
    net = smis.load_official(reference_dir / "cityscapes", dataset="cityscapes")
    _, label, instance = _inputs(io)
    with torch.no_grad():
        flat = net.decode(label, io["z"], torch.zeros_like(instance))
    assert rel_err(flat, io["fake"]) > 1e-3
    with pytest.raises(ValueError, match="instance"):
        net.decode(label, io["z"], None)
