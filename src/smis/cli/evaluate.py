"""Evaluate a GroupDNet checkpoint on a dataset's validation split (see smis.evaluation.runner).

    python -m smis.evaluate ckpt=logs/train/runs/DATE/model.pt dataset=cityscapes dataset.root=...
    python -m smis.evaluate ckpt=cityscapes.pt dataset=cityscapes dataset.root=... metrics=[fid,miou]
    python -m smis.evaluate ckpt=... dataset=cityscapes dataset.root=... protocol=spade

`main` fetches the weight files first (smis.preflight), then Hydra runs `evaluate(cfg)`, which is
also what scripts and tests call.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from omegaconf.errors import MissingMandatoryValue

from ..data.io import DatasetError
from ..evaluation.evaluator import EvaluationError
from ..evaluation.report import markdown_table
from ..evaluation.runner import evaluate
from ..preflight import preflight, reported_run
from ..weights import MissingWeightsError

# a setting or an input that cannot work: the run stops before the loop (not a bug)
BAD_SETTINGS = (EvaluationError, DatasetError, MissingWeightsError, MissingMandatoryValue)

__all__ = ["EvaluationError", "evaluate", "main"]


@hydra.main(version_base="1.3", config_path="../configs", config_name="evaluate")
def run(cfg: DictConfig) -> None:
    run_dir = HydraConfig.get().runtime.output_dir
    with reported_run("evaluation", run_dir, BAD_SETTINGS):   # a bad setting: one line, exit 2
        results = evaluate(cfg)
    print("\n" + markdown_table(results))
    print(f"wrote {Path(run_dir, 'metrics.json')} and metrics.md")


def main() -> None:
    """`python -m smis.evaluate OVERRIDES`: the weight files first (preflight), then the run."""
    preflight("evaluate")
    run()


if __name__ == "__main__":
    main()
