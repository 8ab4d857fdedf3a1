"""Outputs that appear all together or not at all (`StagedOutput`): a command writes into a hidden
staging folder beside its target and moves everything into place at the end; an error, Ctrl+C or
SIGTERM leaves the target as it was, and a killed run's staging folder is removed by the next."""

from __future__ import annotations

import contextlib
import errno
import filecmp
import glob
import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

from .utils import STALE_TMP_S, remove_stale_temporaries


class StagedOutput:
    """A command's outputs, all together or not at all:

        with StagedOutput(Path("out"), overwrite=False, tool="smis-generate") as stage:
            ...write everything under stage.path (the stand-in for out)...
            written = stage.commit()

    Everything is written into a hidden folder beside `target` (the same file system), e.g.
    `.out.smis-generate.XXXX.tmp/`; commit() moves it into place at the end, and leaving the block
    without commit (an error, Ctrl+C, SIGTERM) removes it and leaves `target` exactly as it was.
    target: the output folder (folder=True: stage.path is a folder standing in for it, whose files
    join whatever target holds) or one output file (folder=False: stage.path is the file to write).

    An existing file is replaced only with overwrite=True, and then all together at commit (a file
    identical to the new one is left as it is); otherwise commit() and check() raise
    FileExistsError naming it and `overwrite_option`, before anything is moved. On SIGTERM or
    SIGHUP (in the main thread) the staging folder is removed and the process exits with
    128 + the signal's number; during commit the signal waits until the moves are done. The
    staging folders of killed runs of `tool` (their lock is free) are removed when the next one
    starts beside them.
    """

    def __init__(self, target: str | os.PathLike, folder: bool = True, overwrite: bool = False,
                 tool: str = "smis", overwrite_option: str = "--overwrite"):
        self.target = Path(os.path.abspath(target))    # "-o ." has a parent and a name too
        self.folder, self.overwrite = folder, overwrite
        self.tool, self.overwrite_option = tool, overwrite_option
        self.root: Path | None = None
        self.path: Path | None = None
        self.committing = self.committed = False
        self.pending_signal: int | None = None
        self._created: list[Path] = []                  # folders made for the target's parent
        self._lock: IO | None = None
        self._handlers: dict[int, object] = {}

    # --- the staging folder ---------------------------------------------------------------------
    def __enter__(self) -> StagedOutput:
        self._catch_signals()                           # first: a SIGTERM from here on cleans up
        try:
            return self._stage()
        except BaseException:
            self.__exit__()
            raise

    def _stage(self) -> StagedOutput:
        target = self.target
        if self.folder and target.exists() and not target.is_dir():
            raise NotADirectoryError(f"{target} is a file; the outputs go into a folder: name a folder")
        if not self.folder and target.is_dir():
            raise IsADirectoryError(f"{target} is a folder; the output is one file: name a file")
        missing = [p for p in [target.parent, *target.parent.parents] if not p.exists()]
        above = next((p for p in [target.parent, *target.parent.parents] if p.exists()), None)
        if above is not None and not above.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"a file, not a folder: {target} cannot be made under it",
                                     str(above))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:                            # read-only, permissions, a file in the way
            raise type(e)(e.errno, f"{e.strerror}: cannot make the folder for {target}",
                          str(e.filename or target.parent)) from None
        self._created = missing                         # deepest first
        remove_stale_staging(target.parent, self.tool)
        prefix = f".{target.name}.{self.tool}."
        try:
            self.root = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=target.parent))
        except OSError as e:                            # name the folder, not the temporary name tried
            raise type(e)(e.errno, f"{e.strerror}: cannot write into this folder", str(target.parent)) \
                from None
        self._lock = open(self.root / "lock.new", "w")   # held while this process lives
        self._lock.write(f"{os.getpid()}\n")
        self._lock.flush()
        _lock(self._lock)
        os.rename(self.root / "lock.new", self.root / "lock")  # seen by others only once locked
        self.path = self.root / "out"
        if self.folder:
            self.path.mkdir()
        return self

    def __exit__(self, exc_type=None, exc=None, tb=None) -> None:
        if isinstance(exc, OSError) and isinstance(exc.filename, str):
            exc.filename = str(self.public(exc.filename))   # the output it was for, not its staged copy
        try:
            self._discard()
        finally:
            self._restore_signals()

    def public(self, path: str | os.PathLike) -> Path:
        """The output that a path inside the staging folder stands for (other paths as they are),
        for messages: an error while writing names the file the user asked for."""
        path = Path(path)
        if self.path is None:
            return path
        try:
            rel = path.relative_to(self.path)
        except ValueError:
            if path.parent == self.path.parent and self.path.name in path.name:
                return self.target                      # a temporary beside a one-file output
            return path
        if rel.name.startswith(".") and rel.name.endswith(".tmp"):     # atomic_write's .NAME.XXXX.tmp
            rel = rel.with_name(rel.name[1:-4].rsplit(".", 1)[0])
        return self.target / rel if self.folder else self.target

    def _discard(self) -> None:
        """Remove the staging folder (and, without a commit, the folders made for the target)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
        if not self.committed:
            for folder in self._created:
                with contextlib.suppress(OSError):
                    folder.rmdir()                      # only if empty: never anything of anyone else

    # --- signals --------------------------------------------------------------------------------
    def _catch_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for name in ("SIGTERM", "SIGHUP"):
            signum = getattr(signal, name, None)
            if signum is not None:
                self._handlers[signum] = signal.signal(signum, self._on_signal)

    def _restore_signals(self) -> None:
        for signum, handler in self._handlers.items():
            signal.signal(signum, handler)
        self._handlers = {}

    def _on_signal(self, signum, frame) -> None:
        if self.committing:                             # a few renames: finish them first
            self.pending_signal = signum
            return
        self._discard()
        raise SystemExit(128 + signum)

    # --- into place -----------------------------------------------------------------------------
    def staged(self) -> list[Path]:
        """The staged files, relative to stage.path (folder) or [Path()] (a file)."""
        if not self.folder:
            return [Path()] if self.path.exists() else []
        return sorted(p.relative_to(self.path) for p in self.path.rglob("*")
                      if p.is_file() and not (p.name.startswith(".") and p.name.endswith(".tmp")))

    def _destination(self, rel: Path) -> Path:
        return self.target / rel if self.folder else self.target

    def _source(self, rel: Path) -> Path:
        return self.path / rel if self.folder else self.path

    def check(self, files=None) -> list[Path]:
        """Raise FileExistsError when a staged file (all, or these paths under stage.path) would
        replace an existing different file without overwrite. -> the staged files that differ
        from what is there (those commit moves)."""
        rels = self.staged() if files is None else \
            [Path(f).relative_to(self.path) if self.folder else Path() for f in files]
        moves, clashes = [], []
        for rel in rels:
            dst = self._destination(rel)
            if dst.is_dir():
                raise IsADirectoryError(f"{dst} is a folder; an output file of that name cannot replace it")
            if dst.exists():
                if filecmp.cmp(self._source(rel), dst, shallow=False):
                    continue                            # the same bytes: nothing to replace
                clashes.append(dst)
            moves.append(rel)
        if clashes and not self.overwrite:
            more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
            them = "them" if len(clashes) > 1 else "it"
            raise FileExistsError(f"{clashes[0]} already exists{more}: pass {self.overwrite_option} to "
                                  f"replace {them}; nothing was written")
        return moves

    def commit(self) -> list[Path]:
        """Move every staged file into place (replacing existing ones only with overwrite; all of
        them or, should a move fail, none). -> the outputs' paths."""
        everything = self.staged()
        moves = self.check()
        self.committing = True
        try:
            if self.folder and not self.target.exists() and moves:
                os.rename(self.path, self.target)       # one step: the folder appears whole
            else:
                self._move(moves)
            self.committed = True
            for folder in {self._destination(rel).parent for rel in everything} | {self.target.parent}:
                _fsync_folder(folder)
            for rel in moves:
                remove_stale_temporaries(self._destination(rel))   # left by killed atomic writes
        finally:
            self.committing = False
        if self.pending_signal is not None:
            self._discard()
            raise SystemExit(128 + self.pending_signal)
        return [self._destination(rel) for rel in everything]

    def _move(self, moves: list[Path]) -> None:
        done: list[tuple[Path, Path | None]] = []
        made: list[Path] = []
        try:
            for rel in moves:
                src, dst = self._source(rel), self._destination(rel)
                missing = [p for p in [dst.parent, *dst.parent.parents] if not p.exists()]
                dst.parent.mkdir(parents=True, exist_ok=True)
                made += missing
                backup = None
                if dst.exists():                        # kept until every move is done
                    backup = self.root / "replaced" / (rel if self.folder else Path(dst.name))
                    backup.parent.mkdir(parents=True, exist_ok=True)
                    try:
                        os.link(dst, backup)
                    except OSError:
                        shutil.copy2(dst, backup)
                os.replace(src, dst)
                done.append((dst, backup))
        except BaseException:
            for dst, backup in reversed(done):          # put back what was there
                with contextlib.suppress(OSError):
                    if backup is None:
                        dst.unlink()
                    else:
                        os.replace(backup, dst)
            for folder in made:
                with contextlib.suppress(OSError):
                    folder.rmdir()
            raise


def _lock(f: IO) -> str:
    """Take an exclusive lock on an open file: "locked", "held" (another process holds it) or
    "unknown" (no locks here: Windows, some network file systems)."""
    try:
        import fcntl
    except ImportError:                                 # Windows: stale folders go by age instead
        return "unknown"
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return "locked"
    except BlockingIOError:
        return "held"
    except OSError:
        return "unknown"


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_stale_staging(folder: Path, tool: str, older_than_s: float = STALE_TMP_S) -> list[Path]:
    """Remove the staging folders of StagedOutput(tool=tool) in `folder` that killed runs left: their
    lock is free (the process that held it is gone); where there are no locks, or no lock file
    was made, when older than `older_than_s`. -> what was removed."""
    removed = []
    for tmp in glob.glob(str(folder / f".*.{glob.escape(tool)}.*.tmp")):
        path, age = Path(tmp), 0.0
        try:
            if not path.is_dir() or path.is_symlink():
                continue
            age = time.time() - os.lstat(path).st_mtime
            with open(path / "lock", "r+") as f:
                state = _lock(f)
            if state == "held" or (state == "unknown" and age <= older_than_s):
                continue                                # a live run's
        except FileNotFoundError:                       # no lock file: just made (it comes next), or
            if age <= min(older_than_s, 60.0):          # killed before it was made
                continue
        except OSError:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def output_problem(output: Path) -> str | None:
    """Why `output` cannot be written (a folder, under a file, in a read-only folder), or None."""
    if output.is_dir():
        return f"the output {output} is a folder; expected a file name (e.g. {output / 'model.pt'})"
    parent = output.parent
    while not parent.exists() and parent != parent.parent:     # the nearest existing folder
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot write {output}: {parent} is a file, not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot write {output}: the folder {parent} is not writable"
    return None
