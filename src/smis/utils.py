"""Small helpers every layer shares: atomic file writes, the device choice, repeating a batch
item, Hydra instantiation of a config group, closing a W&B run, progress lines for logs.
Nothing here imports the rest of smis."""

from __future__ import annotations

import errno
import glob
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import torch

STALE_TMP_S = 3600    # a temporary file of an atomic write older than this was left by a killed writer


def default_file_mode() -> int:
    """The mode open() would give a new file: 0o666 less the umask (mkstemp's files are 0o600)."""
    try:                                        # Linux: read it without changing it
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def remove_stale_temporaries(path: Path, older_than_s: float = STALE_TMP_S) -> None:
    """Delete `.NAME.*.tmp` files beside `path` (atomic_write's temporaries for this very file) left
    by a writer killed more than `older_than_s` ago; a live writer's file is younger."""
    pattern = str(path.parent / f".{glob.escape(path.name)}.*.tmp")
    for tmp in glob.glob(pattern):
        try:
            if time.time() - os.lstat(tmp).st_mtime > older_than_s:
                os.unlink(tmp)
        except OSError:
            pass                                # gone already, or not ours to remove


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call write(file) on a temporary file in the same folder, flush it to disk, then rename it
    to `path`: a reader or a crash never sees half a file, and a failed write keeps the old one.
    The file gets the usual mode (0o666 less the umask); temporaries that killed writes of the
    same file left behind more than an hour ago are removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fchmod(f.fileno(), default_file_mode())
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    remove_stale_temporaries(path)
    return path


def atomic_torch_save(obj, path: str | os.PathLike) -> Path:
    """torch.save, atomically (see atomic_write). A write that fails inside torch's zip writer (a
    full disk: torch raises RuntimeError "enforce fail at inline_container.cc ... file write
    failed") is an OSError naming `path`; the previous file, if any, is kept."""
    def save(f: IO[bytes]) -> None:
        try:
            torch.save(obj, f)
        except RuntimeError as e:
            if "inline_container" not in str(e) and "PytorchStreamWriter" not in str(e):
                raise                                # not a write failure: a real bug
            raise OSError(errno.ENOSPC, "writing failed: the disk may be full (torch.save: "
                          f"{str(e).splitlines()[0][:160]})", str(path)) from None

    return atomic_write(path, save)


def atomic_write_text(text: str, path: str | os.PathLike) -> Path:
    """A text file (UTF-8), atomically (see atomic_write)."""
    return atomic_write(path, lambda f: f.write(text.encode()))


def pick_device(name: str = "auto") -> torch.device:
    """'auto' is CUDA when there is a GPU, else the CPU; any other name is taken as given, with a
    clear error for a GPU that is not there."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    expected = "auto, cpu, cuda, cuda:N (a GPU's number) or mps"
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"device={name!r}: expected {expected}")
    try:
        device = torch.device(name.strip())
    except RuntimeError:
        raise ValueError(f"device={name!r}: not a device; expected {expected}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={name!r}, but this machine has no CUDA GPU: use device=cpu or auto")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ValueError(f"device={name!r}, but this machine has {count} CUDA GPU{'s' * (count != 1)} "
                             f"(cuda:0 to cuda:{count - 1})")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"device={name!r}, but this machine has no Apple GPU (MPS): use device=cpu or "
                             "auto")
    elif device.type == "meta":
        raise ValueError(f"device={name!r}: the meta device holds no data; expected {expected}")
    elif device.type != "cpu":
        try:                                    # another backend (xpu, ...): it must work here
            torch.empty(0, device=device)
        except Exception as e:
            why = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
            raise ValueError(f"device={name!r} is not usable on this machine ({why}); expected {expected}") \
                from None
    return device


def repeat(t: torch.Tensor | None, i: int, n: int) -> torch.Tensor | None:
    """Item i of a batch, n times: (B, ...) -> (n, ...) (None stays None)."""
    return None if t is None else t[i:i + 1].expand(n, *t.shape[1:])


def instantiate_all(group) -> list:
    """Every entry with a `_target_` of a config group (loggers, callbacks), instantiated."""
    from hydra.utils import instantiate

    return [instantiate(c) for c in (group or {}).values() if c is not None and "_target_" in c]


def finish_wandb(loggers: list) -> None:
    """Close the W&B run so the next job of a sweep starts its own."""
    from pytorch_lightning.loggers import WandbLogger

    if any(isinstance(lg, WandbLogger) for lg in loggers):
        import wandb

        wandb.finish()


class ProgressLog:
    """A progress line at most every `every_s` seconds, appended to a log file, and printed too when
    standard output is not a terminal (CI, `| tee`, a SLURM log), where live progress bars show
    nothing until the end.

    path: the log file (its folder is created); None: print only.
    every_s: the longest silence between two lines.
    """

    def __init__(self, path: str | os.PathLike | None, every_s: float = 30.0):
        self.path = Path(path) if path is not None else None
        self.every_s = every_s
        self.to_stdout = not sys.stdout.isatty()
        self._last: float | None = None

    def due(self) -> bool:
        """Whether a line is due now (the first call always is)."""
        return self._last is None or time.monotonic() - self._last >= self.every_s

    def write(self, line: str) -> None:
        """Write a line now, stamped with the time of day."""
        self._last = time.monotonic()
        stamped = f"[{time.strftime('%H:%M:%S')}] {line}"
        if self.to_stdout:
            print(stamped, flush=True)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as f:
                f.write(stamped + "\n")


def size_type(*words: str) -> Callable[[str], tuple[int, int] | str]:
    """An argparse `type` for an image size: "HxW" (or "S" for a square) -> (H, W); each of `words`
    (e.g. "input", "native") is returned as given; anything else is argparse's one-line error."""
    import argparse

    def size(text: str) -> tuple[int, int] | str:
        if text in words:
            return text
        h, _, w = text.lower().partition("x")
        try:
            return int(h), int(w or h)
        except ValueError:
            alternatives = "".join(f" or {word!r}" for word in words)
            raise argparse.ArgumentTypeError(f"expected HxW (height x width, e.g. 256x512){alternatives}; "
                                             f"got {text!r}") from None
    return size
