"""The metrics of one evaluation run, fed batch by batch (`Evaluator`), and the checks and helpers
around it: the model fits the data, a missing weight file names its option, the real images' key."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ..data.spec import DatasetSpec
from ..latents import LatentLayout
from ..networks.prior import choose_prior
from ..utils import repeat
from ..weights import MissingWeightsError
from .confusion import ConfusionMatrix
from .diversity import class_diversity, load_lpips, mean_pairwise_lpips, summarize
from .fid import FID, real_stats_path
from .looks import LookSpread
from .protocol import (
    IgnoredPixels,
    ProtocolError,
    file_digest,
    predict,
    resolve,
    segmentation_batch,
    segmentation_scores,
)
from .separation import class_separation, summarize_separation, transfer_hits


class EvaluationError(ValueError):
    """A setting or input that cannot be evaluated: raised before the loop starts."""


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
        try:                                   # where random codes come from (networks/prior.py)
            self.prior = choose_prior(net, cfg.prior)
        except ValueError as e:
            raise EvaluationError(str(e)) from None
        # separate streams: the images FID and mIoU see do not depend on which metrics run; a
        # prior draws on the CPU
        streams = "cpu" if self.prior is not None else device
        self.generator = torch.Generator(device=streams).manual_seed(cfg.seed)
        self.diversity_generator = torch.Generator(device=streams).manual_seed(cfg.seed + 1)
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
        self.separation_generator = torch.Generator(device=streams).manual_seed(cfg.seed + 2)
        self.per_image_separation, self.recon_sum, self.transfer = [], 0.0, []
        # the sampled looks' variety next to the data's (looks.py)
        self.looks = LookSpread(spec.num_classes, cfg.looks.min_area) if "looks" in cfg.metrics else None
        self.looks_generator = torch.Generator(device=streams).manual_seed(cfg.seed + 3)
        self.looks_maps = 0

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
                                 device=self.device, prior=self.prior)

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
        if self.looks is not None:
            self.sample_looks(image, label, instance)
        return fake

    def sample_looks(self, image, label, instance) -> None:
        """Every real image's looks; `looks.samples` prior draws of the first `looks.label_maps` maps."""
        self.looks.add_real(image, label)
        k = self.cfg.looks.samples
        for i in range(image.shape[0]):
            if self.looks_maps >= self.cfg.looks.label_maps:
                break
            z = self.net.sample_z(k, *image.shape[2:], generator=self.looks_generator, device=self.device,
                                  prior=self.prior)
            self.looks.add_sampled(self.net.decode(repeat(label, i, k), z, repeat(instance, i, k)),
                                   repeat(label, i, k))
            self.looks_maps += 1

    def control(self, image, label, instance) -> None:
        """Reconstruction L1 of the encoded codes for every image; per-class pixel separation for
        the first `separation.label_maps` label maps."""
        mu, _ = self.net.encode(image, label)
        recon = self.net.decode(label, mu, instance)
        self.recon_sum += float((recon - image).abs().mean((1, 2, 3)).sum())
        c = self.cfg.separation
        layout = LatentLayout.of(self.net, self.prior)
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
                                  device=self.device, prior=self.prior)
            self.per_image_separation.append(class_separation(
                decode, layout, label[i:i + 1], z, c.samples, self.separation_generator,
                c.band, c.min_area))

    def diversity(self, label, instance) -> None:
        """LPIPS diversity and the class-specific diversities of one label map."""
        k, (H, W) = self.cfg.diversity.samples, label.shape[2:]
        g = self.diversity_generator
        z = self.net.sample_z(k, H, W, generator=g, device=self.device, prior=self.prior)
        if "lpips" in self.cfg.metrics:
            images = self.net.decode(repeat(label, 0, k), z, repeat(instance, 0, k))
            self.pairwise.append(mean_pairwise_lpips(self.lpips, images))
        if "mcsd" in self.cfg.metrics:
            self.per_image_classes.append(
                class_diversity(self.net, self.lpips, label, z[:1], k, g, instance=instance,
                                blank=self.cfg.diversity.blank_other_region, prior=self.prior))
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
        if self.looks is not None:
            summary = self.looks.summary(self.names)
            out["looks_ratio"], out["looks_coverage"] = summary["ratio"], summary["coverage"]
            out["looks_texture_ratio"] = summary["texture_ratio"]
            out["looks_bias"], out["per_class_looks"] = summary["bias"], summary["per_class"]
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
