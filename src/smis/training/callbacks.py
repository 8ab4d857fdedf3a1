"""Callbacks and the checkpoint writer used by `smis.train`."""

from __future__ import annotations

import time

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import RichProgressBar
from pytorch_lightning.plugins.io import TorchCheckpointIO
from pytorch_lightning.utilities import rank_zero_info

from ..utils import ProgressLog, atomic_torch_save


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes through a temporary file + rename, so a kill during a save never leaves a
    half-written last.ckpt in place of the previous good one; reads with weights_only=True."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        atomic_torch_save(checkpoint, path)

    def load_checkpoint(self, path, map_location=lambda storage, loc: storage, weights_only=None):
        return super().load_checkpoint(path, map_location=map_location, weights_only=True)


def epoch_of(trainer) -> str:
    """The running epoch counted from 1, out of the planned number: "epoch 7/7" in the last one."""
    planned = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
    return f"{trainer.current_epoch + 1}{planned}"


class EpochProgressBar(RichProgressBar):
    """Lightning's rich progress bar, counting epochs as the progress lines do (Epoch 7/7 in the
    last of 7, where Lightning shows 6/6)."""

    def _get_train_description(self, current_epoch: int) -> str:
        description = f"Epoch {epoch_of(self.trainer)}"
        return f"{description:{len(self.validation_description)}}"     # one width: no flicker


class ImagesPerSecond(pl.Callback):
    """Logs training images/s per process and for all processes together, and states the
    per-process and global batch sizes once at the start."""

    def __init__(self, window: int = 20):
        self.window = window
        self._start: float | None = None
        self._images = 0

    def on_train_start(self, trainer, pl_module) -> None:
        loader = trainer.train_dataloader
        per_process = getattr(loader, "batch_size", None)
        if per_process:
            world = trainer.world_size
            rank_zero_info(f"batch: {per_process} images per process x {world} process(es) = "
                           f"{per_process * world} per step")
            for logger in trainer.loggers:
                logger.log_hyperparams({"batch/per_process": per_process, "batch/global": per_process * world,
                                        "batch/processes": world})

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self._start is None:
            self._start, self._images = time.perf_counter(), 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._images += batch["image"].shape[0]
        if (batch_idx + 1) % self.window:
            return
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)
        rate = self._images / (time.perf_counter() - self._start)
        pl_module.log_dict({"perf/images_per_s_per_process": rate,
                            "perf/images_per_s": rate * trainer.world_size}, batch_size=1)
        self._start = None

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._start = None      # do not count the validation pause


class ProgressLines(pl.Callback):
    """A progress line at least every `every_s` seconds (epoch, batch, images/s, losses), appended
    to `path` and printed when standard output is not a terminal (see utils.ProgressLog), so a
    SLURM log or `| tee` shows a run moving. Rank 0 only.

    path: the log file, e.g. the run folder's progress.log; None: print only.
    every_s: the longest silence between two lines.
    """

    def __init__(self, path: str | None = None, every_s: float = 30.0):
        self.lines = ProgressLog(path, every_s)
        self._start, self._images = time.perf_counter(), 0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start, self._images = time.perf_counter(), 0      # not the validation pause

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._images += batch["image"].shape[0]
        if not trainer.is_global_zero or not self.lines.due():
            return
        rate = self._images / max(time.perf_counter() - self._start, 1e-9)
        losses = "  ".join(f"{k} {float(v):.3f}" for k, v in trainer.progress_bar_metrics.items())
        self.lines.write(f"epoch {epoch_of(trainer)}  batch {batch_idx + 1}/"
                       f"{trainer.num_training_batches}  {rate:.1f} images/s per process  {losses}")

    def on_train_end(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            self.lines.write(f"training ended: {trainer.current_epoch} epochs done, "
                             f"{trainer.global_step} optimiser steps")
