"""`smis-weights`: the pretrained files a command needs, where they are kept, fetching and checking them.

    smis-weights status                               # what train and evaluate need with their defaults
    smis-weights status dataset=cityscapes protocol=spade
    smis-weights fetch dataset=cityscapes             # before an offline job: all of them, at once
    smis-weights fetch vgg19 inception                # by registry name
    smis-weights verify                               # checksums of every registry file present
    smis-weights status --all                         # every file of the registry

Arguments with `=` are the overrides you give `python -m smis.train` / `smis.evaluate` (each command
whose config accepts them is asked); other arguments are registry names. Files go to the torch hub
cache ($TORCH_HOME/hub/checkpoints); SMIS_WEIGHTS_MIRROR (or --mirror) is tried first.
Exit codes: 0 done; 1 verify found a missing or invalid file; 2 a bad argument or a failed fetch.
"""

from __future__ import annotations

import argparse
import sys
from urllib.parse import urlsplit

from hydra.core.hydra_config import HydraConfig

from ..config import compose_config
from ..preflight import compose_variants, needs, one_line
from ..weights.registry import REGISTRY, entry
from ..weights.store import (
    MIRROR_ENV,
    MissingWeightsError,
    State,
    cache_dir,
    candidate_urls,
    check,
    ensure,
    mirror_url,
    sha256_of,
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="smis-weights", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("status", "fetch", "verify"),
                   help="status: list the files and their state; fetch: download the missing ones; "
                        "verify: check the checksums of those present")
    p.add_argument("args", nargs="*", metavar="NAME|KEY=VALUE",
                   help="registry names, or the command's config overrides (e.g. dataset=cityscapes)")
    p.add_argument("--for", dest="command", choices=("train", "evaluate"),
                   help="only this command's needs (default: train and evaluate)")
    p.add_argument("--all", action="store_true", help="every file of the registry")
    p.add_argument("--mirror", default=None, metavar="URL",
                   help="a mirror serving the registry's paths, tried first (default: $SMIS_WEIGHTS_MIRROR)")
    return p


def check_mirror(url: str | None, where: str) -> None:
    """A mirror is an http(s):// or file:// address: a ValueError naming `where` it came from."""
    if url is None:
        return
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https", "file") and bool(parts.netloc or parts.path)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{where} {url!r}: expected an http://, https:// or file:// address")


def selected(args) -> dict[str, list[str]]:
    """{registry name: [who needs it]} for the arguments."""
    names = [a for a in args.args if "=" not in a]
    overrides = [a for a in args.args if "=" in a]
    for name in names:
        entry(name)                                   # KeyError listing the names
    if args.all:
        return {n: [] for n in REGISTRY}
    if names and not overrides:
        return {n: [] for n in names}
    wanted: dict[str, list[str]] = {n: [] for n in names}
    commands = [args.command] if args.command else ["train", "evaluate"]
    taken = {command: accepted(command, overrides) for command in commands}
    for override in overrides:
        if not any(override in own for own in taken.values()):
            option = override.lstrip("+~").split("=")[0]
            raise ValueError(f"{override}: {' and '.join(commands)} {'have' if len(commands) > 1 else 'has'} "
                             f"no option {option!r}")
    for command in commands:
        own = taken[command]
        try:
            cfg = compose_variants(command, own)[0]
        except Exception as e:                        # Hydra: an unknown option or choice
            raise ValueError(f"{command}: {one_line(e)}") from None
        for name in needs(command, cfg):
            if command not in wanted.setdefault(name, []):
                wanted[name].append(command)
    return wanted


def accepted(command: str, overrides: list[str]) -> list[str]:
    """The overrides whose option (its first part: dataset, protocol, loss, ...) `command`'s config has."""
    cfg = compose_config([], config_name=command)
    known = set(cfg) | set(HydraConfig.get().runtime.choices)
    return [o for o in overrides if o.lstrip("+~").split("=")[0].split(".")[0].split("@")[0] in known]


def show(states: list[State], users: dict[str, list[str]]) -> None:
    print(f"torch hub cache: {cache_dir()}")
    if not states:
        print("no pretrained files needed")
        return
    width = max(len(s.file.name) for s in states)
    for s in states:
        by = f"  [{', '.join(users.get(s.file.name) or [])}]" if users.get(s.file.name) else ""
        print(f"  {s.file.name:<{width}}  {s.status:<8}  {s.file.size_text:>18}  {s.path}{by}")
        if not s.usable:
            where = ", ".join(candidate_urls(s.file)) or f"download by hand: {s.file.page}"
            print(f"  {'':<{width}}  {s.detail}; for {s.file.needed_by}; from {where}")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_intermixed_args(argv)      # options may come after the overrides
    try:
        check_mirror(args.mirror, "--mirror")
        check_mirror(None if args.mirror else mirror_url(), MIRROR_ENV)
        users = selected(args)
    except (KeyError, ValueError) as e:
        print(f"smis-weights: error: {e.args[0]}", file=sys.stderr)
        return 2
    if args.action == "verify" and not args.args and not args.all:
        users = {n: [] for n in REGISTRY}             # every file present
        states = [s for s in map(check, REGISTRY.values()) if s.status != "missing"]
    else:
        states = [check(entry(n)) for n in users]
    if args.action == "fetch":
        try:
            ensure(list(users), mirror=args.mirror or mirror_url(), allow_download=True)
        except MissingWeightsError as e:
            print(f"smis-weights: error: {e}", file=sys.stderr)
            return 2
        states = [check(entry(n)) for n in users]
    show(states, users)
    if args.action == "verify":
        bad = [s for s in states if not s.usable]
        for s in states:
            if s.status == "unpinned":               # what to pin, for a mirror or a cluster's records
                print(f"no published checksum for {s.file.name} (checked on load instead); "
                      f"this copy's sha256: {sha256_of(s.path)}")
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
