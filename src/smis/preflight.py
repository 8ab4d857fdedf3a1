"""What a command needs before it starts: the pretrained files its config uses (smis.weights's registry),
fetched at once, or one error listing every file still missing.

`python -m smis.train` and `python -m smis.evaluate` run `preflight` on their command line before
Hydra makes a run folder, so an offline machine stops within seconds, with nothing written;
`smis-weights status dataset=cityscapes protocol=spade` reports the same list.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence

from omegaconf import DictConfig, OmegaConf

from .evaluation import METRICS
from .evaluation.protocol import ProtocolError, resolve
from .weights import MissingWeightsError, ensure

COMMANDS = ("train", "evaluate")
LPIPS_METRICS = ("lpips", "mcsd")


def train_needs(cfg: DictConfig) -> list[str]:
    """The registry files `smis.train` loads with this config: VGG19 for the perceptual loss."""
    loss = cfg.get("loss") or {}
    return ["vgg19"] if (loss.get("vgg") or 0) > 0 and loss.get("vgg_weights") is None else []


def segmenter_needs(spec: dict | None) -> list[str]:
    """The registry files a segmenter spec ({_target_: builder, ...}) loads: the builder's
    `weight_names(**arguments)` (none for builders that take only the user's own files)."""
    if not spec or not spec.get("_target_"):
        return []
    from hydra.utils import get_method

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


def dataset_choice() -> str | None:
    """The `dataset=` option of the config being run (what names its protocol entry), when Hydra
    composed it."""
    from hydra.core.hydra_config import HydraConfig

    try:
        return HydraConfig.get().runtime.choices.get("dataset")
    except ValueError:                    # not composed by Hydra (a hand-built config)
        return None


def needs(command: str, cfg: DictConfig, dataset: str | None = None, *, optional: bool = True) -> list[str]:
    """The registry files `command` (train or evaluate) needs for `cfg`; optional=False leaves out
    those that evaluate's metrics=auto may skip."""
    if command == "train":
        return train_needs(cfg)
    if cfg.get("metrics") == "auto" and not optional:
        return []
    return [n for names in metric_needs(cfg, dataset or dataset_choice()).values() for n in names]


def compose_variants(command: str, overrides: Sequence[str], multirun: bool = False) -> list[DictConfig]:
    """The configs the command line gives: one, or for a multirun every choice of each swept option
    (the others at their first choice; interval sweeps keep the config's value)."""
    from .config import compose_config

    if not multirun:
        return [compose_config(overrides, config_name=command)]
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(overrides))
    choices = []
    for o in parsed:
        if not o.is_sweep_override():
            choices.append([o.input_line])
            continue
        try:
            choices.append([f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()])
        except Exception:                # interval(...) sweeps (optuna): numbers, no files
            choices.append([])
    first = [c[0] for c in choices if c]
    variants = {tuple(first)}
    for i, values in enumerate(choices):
        for value in values[1:]:
            variants.add(tuple(c[0] if j != i else value for j, c in enumerate(choices) if c))
    return [compose_config(list(v), config_name=command) for v in sorted(variants)]


def fetch_for(command: str, configs: Iterable[DictConfig], mirror: str | None = None) -> None:
    """Every file the configs need, fetched (or MissingWeightsError listing all that are missing)."""
    names = []
    for cfg in configs:
        names += needs(command, cfg, optional=False)
        mirror = mirror or cfg.get("weights_mirror")
    ensure(names, mirror=mirror)


def preflight(command: str, argv: Sequence[str] | None = None) -> None:
    """Before Hydra runs `command` with this command line: fetch the files it needs, or print one
    error listing every missing file and exit 2. Options that only print (--help, --cfg, ...) and
    custom config folders skip it; a command line Hydra rejects, or a config with unset required
    values, is left for the run to report (nothing is downloaded for a run that cannot start)."""
    from hydra._internal.utils import get_args_parser

    args, _ = get_args_parser().parse_known_args(list(sys.argv[1:] if argv is None else argv))
    if (args.help or args.hydra_help or args.cfg or args.info or args.shell_completion or args.config_path
            or args.config_dir or args.config_name or args.experimental_rerun):
        return
    try:
        configs = compose_variants(command, args.overrides, args.multirun)
    except Exception:                    # Hydra reports a bad command line its own way
        return
    if any(OmegaConf.missing_keys(cfg) for cfg in configs):
        return                           # e.g. dataset.root unset: the run says so, before any download
    try:
        fetch_for(command, configs)
    except MissingWeightsError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def check_weights(command: str, cfg: DictConfig, dataset: str | None = None) -> None:
    """For `train(cfg)` / `evaluate(cfg)` called from Python: the same fetch as `preflight`, so a
    missing file is reported before any work."""
    ensure(needs(command, cfg, dataset, optional=False), mirror=cfg.get("weights_mirror"))


__all__ = ["COMMANDS", "check_weights", "compose_variants", "metric_needs", "needs", "preflight",
           "segmenter_needs", "train_needs"]
