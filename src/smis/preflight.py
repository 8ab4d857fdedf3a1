"""What a command needs before it starts: the pretrained files its config uses (the registry of
smis.weights), fetched at once, or one error listing every file still missing.

`python -m smis.train` and `python -m smis.evaluate` run `preflight` on their command line before
Hydra makes a run folder, so an offline machine stops within seconds, with nothing written;
`smis-weights status dataset=cityscapes protocol=spade` reports the same list.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence

from omegaconf import DictConfig, OmegaConf

from .config import compose_config, dataset_choice
from .evaluation.needs import metric_needs
from .training.needs import train_needs
from .weights import MissingWeightsError, ensure

COMMANDS = ("train", "evaluate")


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


__all__ = ["COMMANDS", "compose_variants", "needs", "preflight"]
