"""CUDA checks (marked `gpu`: skipped without a GPU; run with `pytest -m gpu` on a GPU machine)."""

import math

import pytest
import torch

from smis.networks import GroupDNet, preset
from tests.helpers.hydra_configs import SYNTHETIC, run

pytestmark = pytest.mark.gpu


def test_cuda_decode_matches_cpu(monkeypatch):
    # full float32 on the GPU: TF32 convolutions round to 10-bit mantissas
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    torch.manual_seed(0)
    net = GroupDNet(preset("small", num_classes=8), with_discriminator=False).eval()
    label = torch.randint(0, 8, (2, 1, 128, 256))
    z = net.sample_z(2, 128, 256)
    with torch.no_grad():
        on_cpu = net.decode(label, z)
        on_gpu = net.cuda().decode(label.cuda(), z.cuda()).cpu()
    assert (on_cpu - on_gpu).abs().max() < 1e-4


@pytest.mark.parametrize("precision", ["16-mixed", "bf16-mixed"])
def test_mixed_precision_training_steps_on_cuda(tmp_path, precision):
    result = run(tmp_path, *SYNTHETIC, "trainer=gpu", f"trainer.precision={precision}", "trainer.max_steps=6",
                 "trainer.limit_val_batches=1")
    assert all(math.isfinite(v) for v in result["metrics"].values())
    assert result["metrics"]["train/g_total"] > 0
    ckpt = torch.load(result["run_dir"] / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 6
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point())
    if precision == "16-mixed":        # the fp16 loss scaler is saved, so a resume continues it
        assert "MixedPrecision" in ckpt


@pytest.mark.parametrize("mode", ["default", "reduce-overhead"])
def test_compiled_training_steps_on_cuda(tmp_path, mode):
    result = run(tmp_path, *SYNTHETIC, "trainer=gpu", f"compile={mode}", "finite_check_every=2",
                 "trainer.max_steps=6", "trainer.limit_val_batches=1")
    assert all(math.isfinite(v) for v in result["metrics"].values())
    ckpt = torch.load(result["run_dir"] / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 6 and "net.generator.fc.weight" in ckpt["state_dict"]


def test_a_cuda_training_step_makes_no_host_sync():
    """With the finite check deferred, one G and one D step (every loss addition, the EMA, Adam)
    queue their kernels without waiting for the GPU: torch's sync debug mode raises on any sync."""
    from smis.data.synthetic import voronoi_labels as scene
    from smis.training import GroupDNetModule
    from tests.helpers.reference import AUTHORS_LOSS as LOSS
    from tests.helpers.reference import AUTHORS_OPTIM as OPTIM

    torch.manual_seed(0)
    loss = {**LOSS, "vgg": 0.0, "vgg_weights": "random", "l1": 1.0, "isolation": 1.0, "flipped_codes": 1.0}
    module = GroupDNetModule(preset("small", ngf=8, ndf=8).to_dict(), OPTIM, loss, ema_decay=0.999,
                             finite_check_every=100).cuda()
    opt_g, opt_d = (torch.optim.Adam(p, lr=1e-4, capturable=True) for p in (
        [*module.net.generator.parameters(), *module.net.encoder.parameters()],
        module.net.discriminator.parameters()))
    label, _ = scene(2, module.net.config.num_classes, 64, 128)
    label, image = label.cuda(), torch.rand(2, 3, 64, 128, device="cuda") * 2 - 1
    step = torch.Tensor.backward
    for warm in (True, False):              # the first step allocates; the second is the one checked
        noise = torch.Generator(device="cuda").manual_seed(0)
        torch.cuda.set_sync_debug_mode("default" if warm else "error")
        try:
            terms, fake, _ = module.generator_step(opt_g, image, label, None, noise, step)
            module.discriminator_step(opt_d, image, label, None, noise, fake, step)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    module.read_finite()
