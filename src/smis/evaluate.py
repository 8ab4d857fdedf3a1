"""Evaluate a GroupDNet checkpoint on a dataset's validation split (SPEC §10).

    python -m smis.evaluate ckpt=logs/train/runs/DATE/model.pt dataset=cityscapes dataset.root=...
    python -m smis.evaluate ckpt=cityscapes.pt dataset=cityscapes dataset.root=... metrics=[fid,miou]
    python -m smis.evaluate ckpt=... dataset=cityscapes dataset.root=... protocol=spade

Streams the split once in batches: each label map is decoded from a random code (or its image's
encoded code with latent=encoded) and feeds FID, the segmenter's confusion matrix, and, for the
first `diversity.label_maps` maps, LPIPS diversity and mCSD / mOCD. FID and segmentation follow the
protocol preset (`protocol=NAME`, configs/protocol/, smis.evaluation.protocol); metrics.json records
it under settings.protocol. Writes metrics.json and metrics.md into the run folder and logs the
numbers. `evaluate(cfg)` is what tests call.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import sys
import time
from pathlib import Path

import hydra
import torch
import torch.nn.functional as F
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from rich.progress import Progress

from .data.spec import DatasetSpec
from .evaluation import METRICS
from .evaluation.confusion import ConfusionMatrix
from .evaluation.diversity import class_diversity, load_lpips, mean_pairwise_lpips, summarize
from .evaluation.fid import FID, real_stats_path
from .evaluation.protocol import (
    IgnoredPixels,
    ProtocolError,
    check_protocol,
    file_digest,
    predict,
    resolve,
    segmentation_batch,
    segmentation_scores,
)
from .evaluation.report import json_safe, markdown_table
from .evaluation.separation import class_separation, summarize_separation, transfer_hits
from .hub import load_model
from .latents import LatentLayout
from .preflight import check_weights, dataset_choice, metric_needs, preflight
from .utils import ProgressLog, atomic_write_text, finish_wandb, instantiate_all, pick_device, repeat
from .visualize import to_pil
from .weights import MissingWeightsError, ensure, entry


class EvaluationError(ValueError):
    """A setting or input that cannot be evaluated: raised before the loop starts."""


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


def check_model_fits(cfg: DictConfig, net, spec: DatasetSpec) -> None:
    """The model was trained for this data: its class count, and its dataset unless the two
    have the same classes (e.g. a val_root folder of another name) or allow_other_dataset."""
    if net.config.num_classes != spec.num_classes:
        raise EvaluationError(f"ckpt={cfg.ckpt} has {net.config.num_classes} classes but the dataset has "
                              f"{spec.num_classes}: evaluate it on the dataset it was trained for")
    theirs, allowed = net.spec, cfg.get("allow_other_dataset", False)
    same_classes = theirs is None or (theirs.names, theirs.palette) == (spec.names, spec.palette)
    if not same_classes and theirs.name != spec.name and not allowed:
        raise EvaluationError(
            f"ckpt={cfg.ckpt} was trained on dataset '{theirs.name}' ({', '.join(theirs.names[:4])}, ...) "
            f"but the data evaluated is '{spec.name}' ({', '.join(spec.names[:4])}, ...): evaluate it on its "
            "own dataset, or set allow_other_dataset=true")


@contextlib.contextmanager
def weights_option(option: str):
    """A missing weight file's error (also inside Hydra's instantiate error) names the option that
    sets its path."""
    try:
        yield
    except (MissingWeightsError, InstantiationException) as e:
        missing = e if isinstance(e, MissingWeightsError) else e.__cause__
        if not isinstance(missing, MissingWeightsError):
            raise
        raise MissingWeightsError(f"{missing} Option: {option}=PATH.") from None


class Evaluator:
    """The metric objects for one run, fed batch by batch."""

    def __init__(self, cfg: DictConfig, net, spec: DatasetSpec, device: torch.device):
        self.cfg, self.net, self.device, self.spec = cfg, net, device, spec
        self.names, self.skipped = spec.names, {}
        try:
            self.protocol = resolve(cfg, spec.name)            # what this run pins, and its deviations
        except ProtocolError as e:
            raise EvaluationError(str(e)) from None
        # separate streams: the images FID and mIoU see do not depend on which metrics run
        self.generator = torch.Generator(device=device).manual_seed(cfg.seed)
        self.diversity_generator = torch.Generator(device=device).manual_seed(cfg.seed + 1)
        self.fid = None
        if "fid" in cfg.metrics:
            rules = self.protocol.fid
            with weights_option("fid.weights"):
                self.fid = FID(cfg.fid.weights, device=device, feature=rules["feature"],
                               resize=rules["resize"], quantize=rules["quantize"])
        self.fid_stats: Path | None = None        # where to save the real statistics at the end
        self.real_in_loop = True                  # False once cached or reference-split statistics are in
        self.segmenter = self.confusion = self.ignored = None
        if "miou" in cfg.metrics:
            self.load_segmenter()
        wants_lpips = {"lpips", "mcsd"} & set(cfg.metrics)
        with weights_option("diversity.lpips_backbone"):
            self.lpips = load_lpips(cfg.diversity.lpips_backbone, device) if wants_lpips else None
        self.pairwise, self.per_image_classes, self.maps_done = [], [], 0
        # pixel-space control (separation) and the encoded codes' reconstruction error
        self.separation_generator = torch.Generator(device=device).manual_seed(cfg.seed + 2)
        self.per_image_separation, self.recon_sum, self.transfer = [], 0.0, []

    def load_segmenter(self) -> None:
        spec, name = self.protocol.segmenter, self.spec.name
        if spec is None:
            self.skipped["miou"] = (f"no segmenter for dataset '{name}': set segmenter={{_target_: ..., "
                                    f"weights: ...}} or segmenters.{name}={{_target_: ..., weights: ...}} "
                                    f"(protocol {self.protocol.name} names none)")
            return
        with weights_option(self.protocol.segmenter_option):
            self.segmenter = instantiate(spec).to(self.device).eval()
        if self.segmenter.num_classes != self.spec.num_eval_classes:
            raise EvaluationError(
                f"the segmenter predicts {self.segmenter.num_classes} classes but {name} is "
                f"scored on {self.spec.num_eval_classes} ({', '.join(self.spec.eval_names[:5])}, ...)")
        self.confusion = ConfusionMatrix(self.segmenter.num_classes, self.segmenter.ignore_index)
        self.ignored = IgnoredPixels(self.segmenter.num_classes, self.segmenter.ignore_index)

    def codes(self, image, label):
        if self.cfg.latent == "encoded":
            return self.net.encode(image, label)[0]
        return self.net.sample_z(image.shape[0], *image.shape[2:], generator=self.generator,
                                 device=self.device)

    def start(self, image: torch.Tensor, dataset_cfg: DictConfig) -> None:
        """First batch: the real statistics. Cached ones for this data (the dataset's options and split),
        size, layer and pipeline are reused; a reference split other than the evaluated one is read whole now;
        otherwise each batch's real images are added. Partial runs (a number of images) are not cached."""
        if self.fid is None:
            return
        H, W = self.protocol.fid["size"] or image.shape[2:]
        split = self.protocol.fid["reference_split"]
        own = split is None or split == dataset_cfg.get("val_split", "val")
        reference = dataset_cfg if own else reference_dataset(dataset_cfg, split)
        path = None
        if not own or self.protocol.images is None:
            path = real_stats_path(self.cfg.fid.stats_dir, self.spec.name, data_key(reference), H, W,
                                   self.fid.feature, self.fid.resize)
        loaded = path is not None and self.fid.load_real_stats(path)
        if not own and not loaded:
            self.add_reference(reference)
        self.real_in_loop = own and not loaded
        self.fid_stats = None if loaded else path

    def add_reference(self, dataset_cfg: DictConfig) -> None:
        """The real statistics from every image of another split (as the dataset loads it for evaluation)."""
        datamodule = instantiate(dataset_cfg)
        datamodule.setup("validate")
        for batch in datamodule.val_dataloader():
            self.fid.update(self.fid_view(batch["image"].to(self.device)), real=True)

    def fid_view(self, images: torch.Tensor) -> torch.Tensor:
        """The images FID sees: at the protocol's FID size if it names one (bicubic with antialiasing, as PIL
        resizes), else as generated / loaded."""
        size = self.protocol.fid["size"]
        if size is None or tuple(images.shape[2:]) == tuple(size):
            return images
        return F.interpolate(images, size=tuple(size), mode="bicubic", align_corners=False,
                             antialias=True).clamp(-1, 1)

    @torch.no_grad()
    def update(self, image, label, instance) -> torch.Tensor:
        fake = self.net.decode(label, self.codes(image, label), instance)      # (B,3,H,W)
        if self.fid is not None:
            if self.real_in_loop:
                self.fid.update(self.fid_view(image), real=True)
            self.fid.update(self.fid_view(fake), real=False)
        if self.confusion is not None:
            rules = self.protocol.segmentation
            seg_in, seg_label = segmentation_batch(fake, label, rules)         # quantised, resized
            pred = predict(self.segmenter, seg_in, rules)                       # (B,H,W)
            target = self.spec.ground_truth(seg_label, self.segmenter.ignore_index)
            self.confusion.update(pred, target)
            self.ignored.update(pred, target)
        for i in range(image.shape[0]):
            if self.lpips is None or self.maps_done >= self.cfg.diversity.label_maps:
                break
            self.diversity(label[i:i + 1], None if instance is None else instance[i:i + 1])
        if "separation" in self.cfg.metrics:
            self.control(image, label, instance)
        return fake

    def control(self, image, label, instance) -> None:
        """Reconstruction L1 of the encoded codes for every image; per-class pixel separation for
        the first `separation.label_maps` label maps."""
        mu, _ = self.net.encode(image, label)
        recon = self.net.decode(label, mu, instance)
        self.recon_sum += float((recon - image).abs().mean((1, 2, 3)).sum())
        c = self.cfg.separation
        layout = LatentLayout.of(self.net)
        # appearance transfer between neighbours in the batch: image i takes i+1's class codes
        for i in range(image.shape[0] - 1):
            def decode_i(labels, z, inst=None if instance is None else instance[i:i + 1]):
                return self.net.decode(labels, z, inst)
            self.transfer += transfer_hits(decode_i, layout, (image[i:i + 1], label[i:i + 1], mu[i:i + 1]),
                                           (image[i + 1:i + 2], label[i + 1:i + 2], mu[i + 1:i + 2]),
                                           c.min_area).items()
        for i in range(image.shape[0]):
            if len(self.per_image_separation) >= c.label_maps:
                break
            inst = repeat(instance, i, c.samples)

            def decode(labels, z, inst=inst):
                return self.net.decode(labels, z, inst)
            z = self.net.sample_z(1, *image.shape[2:], generator=self.separation_generator,
                                  device=self.device)
            self.per_image_separation.append(class_separation(
                decode, layout, label[i:i + 1], z, c.samples, self.separation_generator,
                c.band, c.min_area))

    def diversity(self, label, instance) -> None:
        """LPIPS diversity and the class-specific diversities of one label map."""
        k, (H, W) = self.cfg.diversity.samples, label.shape[2:]
        g = self.diversity_generator
        z = self.net.sample_z(k, H, W, generator=g, device=self.device)
        if "lpips" in self.cfg.metrics:
            images = self.net.decode(repeat(label, 0, k), z, repeat(instance, 0, k))
            self.pairwise.append(mean_pairwise_lpips(self.lpips, images))
        if "mcsd" in self.cfg.metrics:
            self.per_image_classes.append(
                class_diversity(self.net, self.lpips, label, z[:1], k, g, instance=instance,
                                blank=self.cfg.diversity.blank_other_region))
        self.maps_done += 1

    def results(self, images: int) -> dict:
        out: dict = {"images": images, "skipped": self.skipped}
        if self.fid is not None:
            if self.fid_stats is not None:
                self.fid.save_real_stats(self.fid_stats)
            out["fid"] = float(self.fid.compute())
        if self.confusion is not None:
            scores = segmentation_scores(self.confusion, self.ignored, self.protocol.segmentation)
            out["miou"], out["pixel_accuracy"] = scores["miou"], scores["pixel_accuracy"]
            names = self.spec.eval_names
            out["per_class_iou"] = {names[c]: float(v) for c, v in enumerate(scores["iou"].tolist())
                                    if not math.isnan(v)}
        if self.pairwise:
            out["lpips_diversity"] = sum(self.pairwise) / len(self.pairwise)
        if self.per_image_classes:
            summary = summarize(self.per_image_classes)
            out["mcsd"], out["mocd"] = summary["mCSD"], summary["mOCD"]
            out["per_class_diversity"] = {self.names[c]: values
                                          for c, values in summary["per_class"].items()}
        if "separation" in self.cfg.metrics and images:
            summary = summarize_separation(self.per_image_separation)
            out["separation"] = summary["separation"]
            out["pixel_inside"], out["pixel_outside"] = summary["inside"], summary["outside"]
            out["per_class_separation"] = {self.names[c]: v for c, v in summary["per_class"].items()}
            out["recon_l1"] = self.recon_sum / images
            hits = [hit for _, hit in self.transfer]
            out["transfer"] = sum(hits) / len(hits) if hits else math.nan
            out["transfer_pairs"] = len(hits)
            per_class = {}
            for c, hit in sorted(self.transfer):
                per_class.setdefault(self.names[c], []).append(hit)
            out["per_class_transfer"] = {name: {"transfer": sum(h) / len(h), "pairs": len(h)}
                                         for name, h in per_class.items()}
        return out


    def weight_files(self) -> dict:
        """sha256 prefixes of the metric networks' weight files, by role and file name."""
        files = {}
        if self.fid is not None:
            files["fid"] = {self.fid.weights_file: file_digest(self.fid.weights_path)}
        if self.segmenter is not None:
            files["segmenter"] = {p.name: file_digest(p) for p in self.segmenter.weight_files}
        return files


def reference_dataset(dataset_cfg: DictConfig, split: str) -> DictConfig:
    """The dataset config reading `split` as its evaluation split (for FID's real images)."""
    if "val_split" not in dataset_cfg:
        raise EvaluationError(f"FID's reference split '{split}' needs a dataset with a val_split option")
    reference = dataset_cfg.copy()
    reference.val_split = split
    return reference


def data_key(dataset_cfg: DictConfig) -> str:
    """A short digest of what decides the real images (root, split, sizes), not loader settings."""
    options = OmegaConf.to_container(dataset_cfg, resolve=True)
    for key in ("batch_size", "val_batch_size", "num_workers", "pin_memory", "persistent_workers", "seed",
                "validate"):
        options.pop(key, None)
    split = options.get("val_split", "val")
    return f"{split}-{hashlib.sha1(json.dumps(options, sort_keys=True).encode()).hexdigest()[:10]}"


def choose_metrics(cfg: DictConfig, dataset: str | None) -> dict[str, str]:
    """Fetch the weight files of the metrics to run. A list of metrics needs all of them (one error
    lists every missing file); metrics=auto keeps the metrics whose files are there or can be
    fetched, sets cfg.metrics to them, and returns {metric: why it was left out} for the others."""
    if cfg.metrics != "auto":
        check_weights("evaluate", cfg, dataset)
        return {}
    per_metric = metric_needs(cfg, dataset)
    skipped = {}
    try:
        ensure([n for names in per_metric.values() for n in names], mirror=cfg.get("weights_mirror"))
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
    device = pick_device(cfg.device)
    run_dir = Path(cfg.paths.output_dir)
    net = load_model(cfg.ckpt).to(device)
    datamodule = instantiate(cfg.dataset)
    datamodule.setup("validate")
    spec = datamodule.spec
    check_model_fits(cfg, net, spec)
    loader = datamodule.val_dataloader()
    wanted = cfg.max_images if cfg.max_images is not None else cfg.protocol.images
    total = len(loader.dataset) if wanted is None else min(wanted, len(loader.dataset))
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
                           "latent": cfg.latent, "diversity_samples": cfg.diversity.samples,
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


@hydra.main(version_base="1.3", config_path="configs", config_name="evaluate")
def run(cfg: DictConfig) -> None:
    run_dir = HydraConfig.get().runtime.output_dir
    try:
        results = evaluate(cfg)
    except BaseException:
        print(f"\nevaluation failed; its run folder is {run_dir}", file=sys.stderr)
        raise
    print("\n" + markdown_table(results))
    print(f"wrote {Path(run_dir, 'metrics.json')} and metrics.md")


def main() -> None:
    """`python -m smis.evaluate OVERRIDES`: the weight files first (preflight), then the run."""
    preflight("evaluate")
    run()


if __name__ == "__main__":
    main()
