"""Epoch-addressed sampling: the order of epoch e and the augmentation of each item are pure
functions of (seed, e, index), so a run resumed at any epoch boundary sees exactly what an
uninterrupted run would, whatever the number of workers or processes."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler

Key = tuple[int, int]   # (dataset index, augmentation seed)


def derive_seed(seed: int, *key: int) -> int:
    """A 63-bit seed for `key` under `seed` (numpy's spawn keys, so (s, 1) and (s, 1, 0) differ)."""
    state = np.random.SeedSequence(seed, spawn_key=key).generate_state(1, np.uint64)[0]
    return int(state) & 0x7FFF_FFFF_FFFF_FFFF


def split_key(key) -> tuple[int, torch.Generator | None]:
    """A dataset key -> (index, generator for its augmentation). An (index, seed) pair from
    EpochSampler gets its own generator; a plain index gets None, i.e. the global torch RNG
    (so `dataset[i]` still augments randomly, exactly as before)."""
    if isinstance(key, tuple):
        index, seed = key
        return index, torch.Generator().manual_seed(seed)
    return key, None


class EpochSampler(Sampler[Key]):
    """Yields (index, augmentation seed) pairs for one process.

    The permutation of epoch e is drawn from (seed, e), the augmentation seed of an item from
    (seed, e, index): neither depends on workers, rank or where the run was resumed. Lightning
    calls `set_epoch` on `dataloader.sampler` at each epoch start.

    Shards itself like torch's DistributedSampler (pads by repeating, or drops with drop_last,
    to a multiple of num_replicas; rank r takes every num_replicas-th item from r), so the
    trainer must run with `use_distributed_sampler=False`, or Lightning would shard again.
    """

    def __init__(self, num_samples: int, shuffle: bool, seed: int = 0, drop_last: bool = False,
                 num_replicas: int | None = None, rank: int | None = None):
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        if num_replicas is None:
            num_replicas = torch.distributed.get_world_size() if distributed else 1
        if rank is None:
            rank = torch.distributed.get_rank() if distributed else 0
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is outside [0, {num_replicas})")
        self.num_samples, self.shuffle, self.seed, self.drop_last = num_samples, shuffle, seed, drop_last
        self.num_replicas, self.rank, self.epoch = num_replicas, rank, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.num_replicas
        return math.ceil(self.num_samples / self.num_replicas)

    def __iter__(self) -> Iterator[Key]:
        n = self.num_samples
        if self.shuffle:
            g = torch.Generator().manual_seed(derive_seed(self.seed, self.epoch))
            order = torch.randperm(n, generator=g).tolist()
        else:
            order = list(range(n))
        total = len(self) * self.num_replicas
        if order:
            order = (order * math.ceil(total / n))[:total]   # pad by repeating, or drop the tail
        for index in order[self.rank::self.num_replicas]:
            yield index, derive_seed(self.seed, self.epoch, index)
