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
