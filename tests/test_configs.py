"""The model preset configs instantiate (Hydra `_target_`) to the presets in code."""

from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from smis.networks import preset

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "model"


@pytest.mark.parametrize("name", ["deepfashion", "cityscapes", "ade20k", "small"])
def test_model_config_instantiates_the_preset(name):
    cfg = OmegaConf.load(CONFIGS / f"{name}.yaml")
    if cfg.num_classes is None:                    # small: the class count comes from the dataset
        cfg.num_classes = 8
    assert instantiate(cfg) == preset(name)


def test_configs_ship_in_the_wheel_and_compose_from_it(tmp_path):
    """`python -m smis.train` works after a non-editable install: the configs are package data."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    str(root), "-w", str(tmp_path / "wheel")], check=True, capture_output=True)
    (wheel,) = (tmp_path / "wheel").glob("smis-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(tmp_path / "site"), str(wheel)], check=True, capture_output=True)
    out = subprocess.run([sys.executable, "-c", "import smis; print(smis.__file__)"],
                         cwd=tmp_path, env={"PYTHONPATH": str(tmp_path / "site")}, capture_output=True,
                         text=True, check=True).stdout
    assert out.startswith(str(tmp_path / "site"))
    job = subprocess.run([sys.executable, "-m", "smis.train", "dataset=cityscapes", "dataset.root=/data",
                          "--cfg", "job"], cwd=tmp_path, env={"PYTHONPATH": str(tmp_path / "site")},
                         capture_output=True, text=True)
    assert job.returncode == 0, job.stderr
    assert "name: cityscapes" in job.stdout and "constant_epochs: 100" in job.stdout
