"""`evaluate(cfg)`: the whole evaluation run that `python -m smis.evaluate` makes (docs/model.md §10).

Streams the split once in batches: each label map is decoded from a random code (or its image's
encoded code with latent=encoded) and feeds FID, the segmenter's confusion matrix, and, for the
first `diversity.label_maps` maps, LPIPS diversity and mCSD / mOCD. FID and segmentation follow the
protocol preset (`protocol=NAME`, configs/protocol/, smis.evaluation.protocol); metrics.json records
it under settings.protocol. Writes metrics.json and metrics.md into the run folder and logs the
numbers.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from rich.progress import Progress

from ..config import dataset_choice
from ..hub import load_model
from ..networks.prior import PRIOR_CHOICES
from ..utils import ProgressLog, atomic_write_text, finish_wandb, instantiate_all, pick_device
from ..visualize import to_pil
from ..weights import MissingWeightsError, ensure, entry
from . import METRICS
from .evaluator import EvaluationError, Evaluator, check_model_fits
from .needs import metric_needs
from .protocol import ProtocolError, check_protocol
from .report import json_safe, markdown_table


def check_settings(cfg: DictConfig) -> None:
    """The options that need no model or data: before anything is loaded."""
    if cfg.metrics != "auto":
        metrics = list(cfg.metrics) if OmegaConf.is_list(cfg.metrics) else [cfg.metrics]
        unknown = set(metrics) - set(METRICS)
        if unknown or not metrics:
            raise EvaluationError(f"metrics={metrics}: expected auto or some of {list(METRICS)}"
                                  + (f" (unknown: {sorted(unknown)})" if unknown else ""))
    if cfg.latent not in ("random", "encoded"):
        raise EvaluationError(f"latent={cfg.latent!r}; expected random or encoded")
    if cfg.prior not in PRIOR_CHOICES:
        raise EvaluationError(f"prior={cfg.prior!r}: expected one of {', '.join(PRIOR_CHOICES)}")
    n = cfg.max_images
    if n is not None and not (isinstance(n, int) and not isinstance(n, bool) and n > 0):
        raise EvaluationError(f"max_images={n!r}: expected a positive integer, or null for the whole split")
    try:
        check_protocol(cfg.protocol)
    except ProtocolError as e:
        raise EvaluationError(str(e)) from None
    split = cfg.protocol.fid.reference_split
    if "fid" in cfg.metrics and split is not None and "val_split" not in cfg.dataset:
        raise EvaluationError(f"protocol {cfg.protocol.name} takes FID's real images from split '{split}', "
                              f"but dataset {cfg.dataset.get('_target_')} has no val_split option to read it")


def choose_metrics(cfg: DictConfig, dataset: str | None) -> dict[str, str]:
    """Fetch the weight files of the metrics to run. A list of metrics needs all of them (one error
    lists every missing file); metrics=auto keeps the metrics whose files are there or can be
    fetched, sets cfg.metrics to them, and returns {metric: why it was left out} for the others."""
    per_metric = metric_needs(cfg, dataset)
    needed = [n for names in per_metric.values() for n in names]
    if cfg.metrics != "auto":
        ensure(needed, mirror=cfg.get("weights_mirror"))
        return {}
    skipped = {}
    try:
        ensure(needed, mirror=cfg.get("weights_mirror"))
    except MissingWeightsError as e:
        print(f"note: {e}", file=sys.stderr)
        for metric, names in per_metric.items():
            lacking = [n for n in names if n in e.names]
            if lacking:
                skipped[metric] = (f"weight files missing: {', '.join(entry(n).filename for n in lacking)} "
                                   f"(smis-weights fetch {' '.join(lacking)})")
    with open_dict(cfg):
        cfg.metrics = [m for m in METRICS if m not in skipped]
    return skipped


def too_few_for_fid(cfg: DictConfig, datamodule, total: int, split_size: int) -> str:
    """Why FID cannot run on `total` images, and what would give it 2."""
    others = [m for m in cfg.metrics if m != "fid"]
    if total < split_size:
        advice = f"raise max_images (now {cfg.max_images})"
    else:
        advice = datamodule.val_size_hint(2)
    return (f"FID needs at least 2 images and this run evaluates {total} (the validation split holds "
            f"{split_size}): {advice}, or leave fid out (metrics={others or '[separation]'})")


def evaluate(cfg: DictConfig) -> dict:
    """Run the configured metrics. -> the results dict also written to metrics.json."""
    check_settings(cfg)
    requested = cfg.metrics if cfg.metrics == "auto" else list(cfg.metrics)
    skipped = choose_metrics(cfg, dataset_choice())
    try:
        device = pick_device(cfg.device)
    except ValueError as e:
        raise EvaluationError(str(e)) from None
    run_dir = Path(cfg.paths.output_dir)
    try:
        net = load_model(cfg.ckpt).to(device)
    except (ValueError, OSError) as e:                 # a missing or unreadable model, named
        raise EvaluationError(f"ckpt={cfg.ckpt}: {e}") from None
    datamodule = instantiate(cfg.dataset)
    datamodule.setup("validate")
    spec = datamodule.spec
    check_model_fits(cfg, net, spec)
    loader = datamodule.val_dataloader()
    wanted = cfg.max_images if cfg.max_images is not None else cfg.protocol.images
    total = len(loader.dataset) if wanted is None else min(wanted, len(loader.dataset))
    if total == 0:
        raise EvaluationError(f"the validation split is empty: nothing to evaluate; "
                              f"{datamodule.val_size_hint(1)}")
    if "fid" in cfg.metrics and total < 2:
        reason = too_few_for_fid(cfg, datamodule, total, len(loader.dataset))
        if requested != "auto":
            raise EvaluationError(reason)
        skipped["fid"] = reason
        with open_dict(cfg):
            cfg.metrics = [m for m in cfg.metrics if m != "fid"]
    evaluator = Evaluator(cfg, net, spec, device)
    evaluator.skipped.update(skipped)
    expected = evaluator.protocol.expected_images
    if expected is not None and total != expected:
        evaluator.protocol.deviations.append(f"{total} images evaluated; the protocol's published numbers "
                                             f"use {expected}")
    for deviation in evaluator.protocol.deviations:
        print(f"note: protocol {evaluator.protocol.name}: {deviation}", file=sys.stderr)
    if not set(cfg.metrics) - set(evaluator.skipped):
        reasons = "; ".join(f"{k}: {v}" for k, v in evaluator.skipped.items())
        raise EvaluationError(f"none of metrics={list(cfg.metrics)} can run: {reasons}")
    for metric, reason in evaluator.skipped.items():
        print(f"note: {metric} skipped: {reason}", file=sys.stderr)
    images, started = 0, time.perf_counter()
    lines = ProgressLog(run_dir / "progress.log", cfg.progress_every_s)
    with Progress(transient=False) as progress:
        task = progress.add_task(f"evaluating {Path(cfg.ckpt).name}", total=total)
        for batch in loader:
            if images >= total:
                break
            n = min(batch["image"].shape[0], total - images)
            image, label = batch["image"][:n].to(device), batch["label"][:n].to(device)
            instance = batch["instance"][:n].to(device) if "instance" in batch else None
            if images == 0:
                evaluator.start(image, cfg.dataset)
            fake = evaluator.update(image, label, instance)
            if cfg.save_images:
                for name, picture in zip(batch["name"][:n], fake):
                    (run_dir / "images").mkdir(parents=True, exist_ok=True)
                    to_pil(picture).save(run_dir / "images" / f"{name}.png")
            images += n
            progress.update(task, advance=n)
            if lines.due() or images == total:
                rate = images / (time.perf_counter() - started)
                lines.write(f"evaluated {images}/{total} images, {rate:.1f} images/s")
    results = evaluator.results(images)
    results["settings"] = {"ckpt": str(cfg.ckpt), "dataset": spec.name,
                           "metrics": {"requested": requested, "run": [m for m in cfg.metrics
                                                                      if m not in evaluator.skipped]},
                           "split": cfg.dataset.get("val_split", "val"),
                           "latent": cfg.latent,
                           "prior": "fitted" if evaluator.prior is not None else "normal",
                           "diversity_samples": cfg.diversity.samples,
                           "diversity_label_maps": evaluator.maps_done,
                           "protocol": evaluator.protocol.record(cfg.protocol, evaluator.weight_files())}
    text = json.dumps(json_safe(results), indent=2, allow_nan=False) + "\n"
    atomic_write_text(text, run_dir / "metrics.json")
    atomic_write_text(markdown_table(results), run_dir / "metrics.md")
    loggers = instantiate_all(cfg.get("logger"))
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
        logger.log_metrics({f"eval/{k}": v for k, v in results.items() if isinstance(v, (int, float))})
        logger.finalize("success")
    finish_wandb(loggers)
    return results
