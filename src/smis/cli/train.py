"""Train GroupDNet.

    python -m smis.train                                   # synthetic scenes, small model, CPU ok
    python -m smis.train dataset=cityscapes dataset.root=/data/cityscapes trainer=ddp
    python -m smis.train -m optim.lr_g=1e-4,2e-4           # a sweep: one run folder per job
    python -m smis.train ckpt_path=last                    # resume the newest run

`main` fetches the weight files first (smis.preflight), then Hydra runs `train(cfg)`
(smis.training.runner), which is also what scripts and tests call.
"""

from __future__ import annotations

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from omegaconf.errors import MissingMandatoryValue

from ..data.io import DatasetError
from ..preflight import preflight, reported_run
from ..training.options import ConfigError
from ..weights import MissingWeightsError

# a setting or an input that cannot work: the run stops before any step (not a bug)
BAD_SETTINGS = (ConfigError, DatasetError, MissingWeightsError, MissingMandatoryValue)

__all__ = ["ConfigError", "main"]


@hydra.main(version_base="1.3", config_path="../configs", config_name="train")
def run(cfg: DictConfig) -> float | None:
    # imported here: a mistyped option is reported without Lightning's seconds of start-up
    from ..training.runner import train

    run_dir = HydraConfig.get().runtime.output_dir
    with reported_run("training", run_dir, BAD_SETTINGS):     # a bad setting: one line, exit 2
        result = train(cfg)
    print(f"\nrun folder: {run_dir}")
    if result["model_path"]:
        print(f"model: {result['model_path']}  (smis.load_model; samples/ holds the validation figures)")
    metric = cfg.get("optimized_metric")
    return result["metrics"].get(metric) if metric else None


def main() -> None:
    """`python -m smis.train OVERRIDES`: the weight files first (preflight), then the run."""
    preflight("train")
    run()


if __name__ == "__main__":
    main()
