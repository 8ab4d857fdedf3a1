"""The registry's files on disk: where each is kept, whether it is valid, and fetching it on first use.

    path = weight_file("vgg19")                 # the cached file, downloaded and checked if missing
    paths = ensure(["inception", "alexnet"])    # several at once: one error listing every file missing

Downloads go through torch.hub's `download_url_to_file` (a progress bar on stderr, the sha256
checked while reading) into a temporary file beside the target, which replaces the target only once
the file is whole and valid: an interrupted or wrong download leaves nothing behind, and a file that
fails its checksum is never used. A network failure stops all downloading at once (no retries, a
15-second socket time-out), so an offline machine gets its error within seconds.

Environment: SMIS_WEIGHTS_MIRROR=URL is tried before the publishers' addresses (URL/FILENAME, the
paths of the registry); SMIS_OFFLINE=1 never downloads; TORCH_HOME moves the cache, as for torch.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import http.client
import importlib.util
import os
import socket
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.error import HTTPError, URLError

import torch

from .files import safe_load
from .registry import REGISTRY, WeightFile, entry

MIRROR_ENV = "SMIS_WEIGHTS_MIRROR"
WRITE_ERRORS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR,
                errno.EISDIR}      # a download that cannot be written where it goes
OFFLINE_ENV = "SMIS_OFFLINE"
TIMEOUT_S = 15.0            # a socket that stays silent this long counts as no network
STALE_PARTIAL_S = 3600      # a temporary download untouched this long was left by a killed process


class MissingWeightsError(FileNotFoundError):
    """Pretrained files a command needs are missing or invalid; the message lists every one of them,
    where it comes from, and the one command that fetches them all. `names`: their registry names."""

    def __init__(self, message: str, names: tuple[str, ...] = ()):
        super().__init__(message)
        self.names = names

    def __str__(self) -> str:
        return self.args[0]


class NetworkError(OSError):
    """No connection could be made: nothing else is tried."""


def cache_dir() -> Path:
    """$TORCH_HOME/hub/checkpoints: where torch.hub and torchvision keep downloaded weights."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def local_path(file: WeightFile) -> Path:
    """Where `file` is kept: in the torch hub cache, or inside the package that ships it."""
    if file.package:
        spec = importlib.util.find_spec(file.package)
        if spec is None or spec.origin is None:
            return Path(f"<package {file.package} is not installed>") / file.filename
        return Path(spec.origin).parent / file.filename
    return cache_dir() / file.filename


def offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def mirror_url() -> str | None:
    return os.environ.get(MIRROR_ENV) or None


_DIGESTS: dict[tuple[str, int, int], str] = {}


def sha256_of(path: Path) -> str:
    """The file's sha256, computed once per process for each (path, size, modification time)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


@dataclass(frozen=True)
class State:
    """What is on disk for one registry file. status: ok (checksum matches), unpinned (present; no
    checksum is published), missing, or invalid (wrong size or checksum: never used)."""

    file: WeightFile
    path: Path
    status: str
    detail: str

    @property
    def usable(self) -> bool:
        return self.status in ("ok", "unpinned")


def problem_with(file: WeightFile, path: Path) -> str | None:
    """Why the file at `path` is not `file` (size, checksum), or None."""
    size = path.stat().st_size
    if file.size is not None and size != file.size:
        return f"is {size:,} bytes, expected {file.size:,}"
    if file.sha256 is not None and sha256_of(path) != file.sha256:
        return f"has sha256 {sha256_of(path)[:16]}..., expected {file.sha256[:16]}..."
    return None


def check(file: WeightFile) -> State:
    """The state of `file` in its place (reads and hashes it once per process)."""
    path = local_path(file)
    if not path.is_file():
        return State(file, path, "missing", "missing")
    problem = problem_with(file, path)
    if problem:
        return State(file, path, "invalid", f"{path} {problem}: not used")
    if file.sha256 is None:
        return State(file, path, "unpinned", "present (no checksum published)")
    return State(file, path, "ok", "sha256 matches")


def candidate_urls(file: WeightFile, mirror: str | None = None) -> list[str]:
    """The mirror's copy first (MIRROR/FILENAME), then the publishers' addresses."""
    mirror = mirror or mirror_url()
    return ([f"{mirror.rstrip('/')}/{file.filename}"] if mirror else []) + list(file.urls)


@contextlib.contextmanager
def _socket_timeout(seconds: float):
    before = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(before)


def _remove_stale_partials(target: Path) -> None:
    """Temporary downloads of `target` that a killed process left behind (see STALE_PARTIAL_S)."""
    for tmp in glob.glob(str(target.parent / f".{glob.escape(target.name)}.*")):
        with contextlib.suppress(OSError):
            if time.time() - os.lstat(tmp).st_mtime > STALE_PARTIAL_S:
                os.unlink(tmp)


def _unusable_download(file: WeightFile, tmp: Path) -> str | None:
    """Why a finished download is not `file` (size; for unpinned files, not a torch weight file)."""
    problem = problem_with(file, tmp)
    if problem or file.sha256 is not None:
        return problem
    try:             # no checksum to compare: it must at least load as tensors (not an HTML page)
        state = safe_load(tmp, "a torch weight file")
    except ValueError:
        return "cannot be read as a torch weight file"
    return None if isinstance(state, dict) else f"holds a {type(state).__name__}, not a state_dict"


def download(file: WeightFile, mirror: str | None = None, progress: bool = True) -> Path:
    """Fetch `file` into its place from the first address that gives a valid copy. -> its path.
    Raises NetworkError when no connection can be made (nothing else is tried) and
    FileNotFoundError listing each address's failure when none gave a valid file."""
    target = local_path(file)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:                                # read-only, or a file in the way
        raise FileNotFoundError(f"cannot make the cache folder {target.parent} ({e.strerror or e}): set "
                                "TORCH_HOME to a writable folder") from None
    _remove_stale_partials(target)
    failures = []
    for url in candidate_urls(file, mirror):
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.download")
        try:
            with _socket_timeout(TIMEOUT_S):
                torch.hub.download_url_to_file(url, str(tmp), hash_prefix=file.sha256, progress=progress)
            problem = _unusable_download(file, tmp)
            if problem is None:
                os.replace(tmp, target)
                return target
            failures.append(f"{url}: the download {problem}; not used")
        except HTTPError as e:                          # the server answered: try the next address
            failures.append(f"{url}: HTTP {e.code} {e.reason}")
        except URLError as e:
            if isinstance(e.reason, FileNotFoundError | PermissionError | IsADirectoryError):
                failures.append(f"{url}: {e.reason.strerror or e.reason}")
                continue
            raise NetworkError(f"{url}: {e.reason}") from None
        except (TimeoutError, ConnectionError) as e:
            raise NetworkError(f"{url}: {e}") from None
        except http.client.HTTPException as e:          # e.g. the connection closed mid-file
            failures.append(f"{url}: interrupted ({type(e).__name__})")
        except RuntimeError as e:                       # torch.hub's checksum test
            failures.append(f"{url}: {e}; not used")
        except ValueError as e:                         # not an address urllib can open
            failures.append(f"{url}: not a valid address ({e})")
        except OSError as e:
            if e.errno in WRITE_ERRORS:                 # writing the download here failed
                raise FileNotFoundError(f"cannot write {tmp} ({e.strerror or e}): is {target.parent} "
                                        "writable, with space left? (TORCH_HOME moves the cache)") from None
            raise NetworkError(f"{url}: {e}") from None     # e.g. an SSL error mid-file
        finally:
            tmp.unlink(missing_ok=True)
    if not failures:
        failures.append(f"no direct download; it is published at {file.page}")
    raise FileNotFoundError("; ".join(failures))


def _listing(states: list[State], reasons: dict[str, str]) -> str:
    lines = []
    for s in states:
        f = s.file
        where = ", ".join(candidate_urls(f)) or f"download by hand: {f.page}"
        lines.append(f"  - {f.filename} ({f.size_text}) for {f.needed_by}\n"
                     f"      from {where}\n      {reasons.get(f.name, s.detail)}"
                     + (f"\n      or {f.instead}" if f.instead else ""))
    return "\n".join(lines)


def ensure(names: Iterable[str], *, mirror: str | None = None, allow_download: bool | None = None,
           progress: bool = True) -> dict[str, Path]:
    """The paths of the registry files `names`, fetching missing or invalid ones (unless offline:
    allow_download=False or SMIS_OFFLINE=1). -> {name: path}. Raises MissingWeightsError listing
    every file that is still missing, with the command that fetches them all."""
    names = list(dict.fromkeys(names))
    states = [check(entry(n)) for n in names]
    allow_download = not offline() if allow_download is None else allow_download
    failed, reasons, network = [], {}, None
    for s in states:
        if s.usable:
            continue
        if s.file.package:
            failed.append(s)
            reasons[s.file.name] = f"{s.detail} inside the installed {s.file.package} package: reinstall it"
            continue
        if not allow_download or network is not None:
            failed.append(s)
            continue
        verb = "replacing" if s.status == "invalid" else "downloading"
        print(f"{verb} {s.file.filename} ({s.file.size_text}) into {s.path.parent}", file=sys.stderr)
        try:
            download(s.file, mirror, progress)
        except NetworkError as e:
            network = e
            failed.append(s)
        except FileNotFoundError as e:
            failed.append(s)
            reasons[s.file.name] = str(e)
    if failed:
        raise MissingWeightsError(missing_message(failed, reasons, network, allow_download),
                                  tuple(s.file.name for s in failed))
    return {n: local_path(REGISTRY[n]) for n in names}


def missing_message(failed: list[State], reasons: dict[str, str], network: Exception | None,
                    allowed: bool) -> str:
    why = (f"No download was tried ({OFFLINE_ENV} is set or downloads are off)." if not allowed
           else f"No network: {network}." if network is not None else "")
    fetchable = [s.file.name for s in failed if not s.file.package]
    fetch = (f"\nFetch them on a machine with network access and the same TORCH_HOME (e.g. a login node):\n"
             f"  smis-weights fetch {' '.join(fetchable)}\n"
             f"or set {MIRROR_ENV}=URL to a mirror serving these paths.") if fetchable else ""
    return (f"{len(failed)} pretrained weight file(s) missing or invalid (torch hub cache: {cache_dir()}):\n"
            f"{_listing(failed, reasons)}\n{why}{fetch}").rstrip()


def weight_file(name: str, given: str | os.PathLike | None = None, option: str | None = None) -> Path:
    """The file to load for registry entry `name`: `given` (the user's own path, as is) or the cached
    copy, fetched and checked on first use (ensure). option: the setting that gives a path, for the
    error when `given` does not exist."""
    if given is not None:
        return given_file(given, option, entry(name))
    return ensure([name])[name]


def given_file(path: str | os.PathLike, option: str | None = None, file: WeightFile | None = None,
               what: str | None = None) -> Path:
    """A weight file the user named: it must exist. The error names the option that gave it and,
    for a registry file, where the original is published and how to do without it."""
    path = Path(path)
    if not path.is_file():
        what = what or (file.filename if file else "weight file")
        by = f" (given by {option})" if option else ""
        source = f"; the original is at {', '.join(file.urls) or file.page}" if file else ""
        instead = f"; or {file.instead}" if file and file.instead else ""
        raise MissingWeightsError(f"{what}: weight file not found at {path}{by}{source}{instead}")
    return path
