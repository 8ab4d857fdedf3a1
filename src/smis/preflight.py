"""What a command needs before it starts: the pretrained files its config uses (the registry of
smis.weights), fetched at once, or one error listing every file still missing.

`python -m smis.train` and `python -m smis.evaluate` run `preflight` on their command line before
Hydra makes a run folder, so an offline machine stops within seconds, with nothing written;
`smis-weights status dataset=cityscapes protocol=spade` reports the same list.
"""

from __future__ import annotations

import contextlib
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


def one_line(e: BaseException) -> str:
    """Hydra's message of several lines as one line: its first line with the choices it lists
    (an unknown option value), or its lines joined (an unknown key: 'Could not override ...; To
    append to your config use +KEY=VALUE; Key 'KEY' is not in struct')."""
    text = str(e)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return type(e).__name__
    if "Available options" in text:
        at = next(i for i, line in enumerate(lines) if line.startswith("Available options"))
        choices = []
        for line in lines[at + 1:]:
            if line.startswith("Config search path"):
                break
            choices.append(line)
        return f"{lines[0]} (available: {', '.join(choices)})"
    cause = e.__cause__
    if cause is not None and str(cause).strip() and str(cause).splitlines()[0] not in text:
        lines.append(str(cause).splitlines()[0].strip())
    return "; ".join(line.rstrip(".") for line in lines
                     if not line.startswith(("full_key:", "object_type=", "See https://")))


def report_bad_setting(e: BaseException, what: str, run_dir: str) -> None:
    """In a command-line run (smis.cli.train / evaluate), after `what` ("training") failed with
    `e`: a bad setting or input (the errors raised before any work) is printed as `error: ...`
    and the process exits 2, without a traceback; other errors (bugs) and the jobs of a sweep
    (multirun: Hydra records each job's failure) return, to be re-raised."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf.errors import MissingMandatoryValue

    print(f"\n{what} failed; its run folder is {run_dir}", file=sys.stderr)
    try:
        sweep = HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:                    # not run by Hydra
        sweep = False
    if sweep:
        return
    if isinstance(e, MissingMandatoryValue):
        key = getattr(e, "full_key", None) or str(e).splitlines()[0].rsplit(" ", 1)[-1]
        print(f"error: {key} is not set: give it on the command line ({key}=...)", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"error: {e}", file=sys.stderr)
    raise SystemExit(2) from None


def unparsable(overrides: Sequence[str]) -> str | None:
    """'OVERRIDE: ' for the first override of the command line Hydra cannot parse, else None."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    for override in overrides:
        try:
            parser.parse_override(override)
        except HydraException:
            return f"{override}: "
    return None


def preflight(command: str, argv: Sequence[str] | None = None) -> None:
    """Before Hydra runs `command` with this command line: fetch the files it needs, or print one
    error listing every missing file and exit 2. Options that only print (--help, --cfg, ...) and
    custom config folders skip it. A command line Hydra rejects (an unknown option or choice, a
    syntax error) is one line `error: ...` and exit 2 here, before a run folder is made; a config
    with unset required values is left for the run to report (nothing is downloaded for a run that
    cannot start)."""
    from hydra._internal.utils import get_args_parser

    args, _ = get_args_parser().parse_known_args(list(sys.argv[1:] if argv is None else argv))
    if (args.help or args.hydra_help or args.cfg or args.info or args.shell_completion or args.config_path
            or args.config_dir or args.config_name or args.experimental_rerun):
        return
    from hydra.errors import HydraException

    try:
        configs = compose_variants(command, args.overrides, args.multirun)
    except HydraException as e:          # an unknown key or choice, a syntax error: named, no traceback
        print(f"error: {unparsable(args.overrides) or ''}{one_line(e)}", file=sys.stderr)
        raise SystemExit(2) from None
    except Exception:                    # anything else: Hydra reports it its own way
        return
    if any(OmegaConf.missing_keys(cfg) for cfg in configs):
        return                           # e.g. dataset.root unset: the run says so, before any download
    try:
        fetch_for(command, configs)
    except MissingWeightsError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


__all__ = ["COMMANDS", "compose_variants", "needs", "one_line", "preflight"]


@contextlib.contextmanager
def reported_run(what: str, run_dir: str, bad_settings: tuple[type[BaseException], ...]):
    """Around a command-line run: a bad setting (one of bad_settings, raised before any work) goes
    through report_bad_setting; any other failure names the run folder and is re-raised."""
    try:
        yield
    except bad_settings as e:
        report_bad_setting(e, what, run_dir)
        raise
    except BaseException:
        print(f"\n{what} failed; its run folder is {run_dir}", file=sys.stderr)
        raise
