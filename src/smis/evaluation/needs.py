"""The pretrained files (smis.weights registry names) each metric of an evaluate config loads."""

from __future__ import annotations

from hydra.utils import get_method
from omegaconf import DictConfig

from . import METRICS
from .protocol import ProtocolError, resolve

LPIPS_METRICS = ("lpips", "mcsd")


def segmenter_needs(spec: dict | None) -> list[str]:
    """The registry files a segmenter spec ({_target_: builder, ...}) loads: the builder's
    `weight_names(**arguments)` (none for builders that take only the user's own files)."""
    if not spec or not spec.get("_target_"):
        return []
    builder = get_method(spec["_target_"])
    names = getattr(builder, "weight_names", None)
    return names(**{k: v for k, v in spec.items() if k != "_target_"}) if names else []


def metric_needs(cfg: DictConfig, dataset: str | None) -> dict[str, list[str]]:
    """{metric: registry files} for every metric `smis.evaluate` may run with this config (all of
    them when metrics=auto), on data named `dataset` (the protocol's segmenter depends on it)."""
    wanted = requested_metrics(cfg)
    needs: dict[str, list[str]] = {}
    if "fid" in wanted:
        needs["fid"] = ["inception"] if cfg.fid.get("weights") is None else []
    for metric in LPIPS_METRICS:
        if metric in wanted:
            backbone = [] if cfg.diversity.get("lpips_backbone") is not None else ["alexnet"]
            needs[metric] = backbone + ["lpips-alex-heads"]
    if "miou" in wanted and dataset is not None:
        try:
            segmenter = resolve(cfg, dataset).segmenter
        except ProtocolError:            # reported by smis.evaluate itself, with the option to fix
            segmenter = None
        needs["miou"] = segmenter_needs(segmenter)
    return needs


def requested_metrics(cfg: DictConfig) -> list[str]:
    """cfg.metrics as a list; `auto` stands for every metric (smis.evaluate drops those it cannot run)."""
    metrics = cfg.get("metrics")
    return list(METRICS) if metrics == "auto" else list(metrics or [])
