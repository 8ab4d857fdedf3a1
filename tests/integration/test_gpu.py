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
