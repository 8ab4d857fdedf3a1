"""EpochSampler: order and augmentation are pure functions of (seed, epoch, index), so training data
repeats exactly, shards cleanly across processes and resumes exactly at any epoch boundary."""

import pytest
import torch

from smis.data import ImageFolderDataModule, ImageFolderDataset, SyntheticDataModule, SyntheticScenes
from smis.data.sampling import EpochSampler, split_key
from tests.helpers.data_trees import folder_tree


def indices(sampler: EpochSampler, epoch: int) -> list[int]:
    sampler.set_epoch(epoch)
    return [i for i, _ in sampler]


def test_order_is_a_function_of_seed_and_epoch():
    a, b = EpochSampler(20, shuffle=True, seed=3), EpochSampler(20, shuffle=True, seed=3)
    for epoch in range(3):
        a.set_epoch(epoch)
        b.set_epoch(epoch)
        assert list(a) == list(b)                                  # indices and augmentation seeds
        assert sorted(i for i, _ in a) == list(range(20)) and len(a) == 20
    assert indices(a, 0) != indices(a, 1)
    assert indices(a, 0) != indices(EpochSampler(20, shuffle=True, seed=4), 0)
    assert indices(EpochSampler(7, shuffle=False), 5) == list(range(7))


def test_augmentation_seed_depends_on_epoch_and_index_only():
    a, b = EpochSampler(10, shuffle=True, seed=1), EpochSampler(10, shuffle=False, seed=1, num_replicas=2)
    a.set_epoch(2)
    b.set_epoch(2)
    seeds = dict(a)
    assert all(seeds[i] == s for i, s in b)                        # same for another order and shard
    assert len(set(seeds.values())) == 10
    a.set_epoch(3)
    assert all(seeds[i] != s for i, s in a)


@pytest.mark.parametrize("n", [10, 11])
def test_shards_are_disjoint_and_cover_every_index(n):
    ranks = [EpochSampler(n, shuffle=True, seed=0, num_replicas=2, rank=r) for r in range(2)]
    parts = [indices(r, 1) for r in ranks]
    assert len(parts[0]) == len(parts[1]) == len(ranks[0]) == len(ranks[1]) == (n + 1) // 2
    real = [part[:len(range(r, n, 2))] for r, part in enumerate(parts)]   # before padding
    assert not set(real[0]) & set(real[1]) and sorted(real[0] + real[1]) == list(range(n))
    dropped = [EpochSampler(n, True, seed=0, drop_last=True, num_replicas=2, rank=r) for r in range(2)]
    kept = [indices(r, 1) for r in dropped]
    assert len(kept[0]) == len(kept[1]) == len(dropped[0]) == n // 2 and not set(kept[0]) & set(kept[1])
    with pytest.raises(ValueError, match="rank"):
        EpochSampler(n, shuffle=True, num_replicas=2, rank=2)


def test_split_key():
    assert split_key(4) == (4, None)                               # a plain index: the global RNG
    (index, a), (_, b) = split_key((4, 123)), split_key((4, 123))
    assert index == 4 and torch.equal(torch.rand(3, generator=a), torch.rand(3, generator=b))


def _same(a: dict, b: dict) -> bool:
    return a["name"] == b["name"] and all(torch.equal(a[k], b[k]) for k in ("image", "label"))


def _keyed_items(data, index: int) -> list[dict]:
    """Items for 16 seeds, checking that the same (index, seed) key gives the same item."""
    items = [data[(index, seed)] for seed in range(16)]
    assert all(_same(item, data[(index, seed)]) for seed, item in enumerate(items))
    return items


def test_paired_dataset_augmentation_follows_the_key(tmp_path):
    root = folder_tree(tmp_path, n=3, h=24, w=32)
    data = ImageFolderDataset(root, train=True, resize=[24, 32], crop=[16, 24])
    plain = ImageFolderDataset(root, train=False, resize=[16, 24])
    items = _keyed_items(data, 1)
    rows = {tuple(item["label"][0, 0].tolist()) for item in items}   # the stripes, left to right
    flipped = [row[0] > row[-1] for row in rows]
    assert any(flipped) and not all(flipped)
    assert len(rows) > 2                                             # crop windows differ too
    assert _same(plain[(1, 5)], plain[1])                            # evaluation ignores the seed


def test_synthetic_flip_follows_the_key():
    data = SyntheticScenes(4, 32, seed=0, train=True)
    items = _keyed_items(data, 2)
    image, label = data.scene(2)
    flipped = [torch.equal(item["label"], label.flip(-1)) and torch.equal(item["image"], image.flip(-1))
               for item in items]
    unflipped = [torch.equal(item["label"], label) and torch.equal(item["image"], image) for item in items]
    assert all(f != u for f, u in zip(flipped, unflipped)) and any(flipped) and any(unflipped)


def _folder_dm(root, **loader):
    return ImageFolderDataModule(str(root), resize=[24, 32], crop=[16, 24], val_fraction=0.2, batch_size=3,
                                 seed=7, **loader)


def _synthetic_dm(root, **loader):
    return SyntheticDataModule(num_train=10, num_val=2, size=24, batch_size=3, seed=7, **loader)


def _epochs(dm, epochs) -> list[list[dict]]:
    loader = dm.train_dataloader()
    out = []
    for epoch in epochs:
        loader.sampler.set_epoch(epoch)
        torch.manual_seed(1000 + epoch)            # the global RNG must not matter
        out.append(list(loader))
    return out


def _same_batches(a: list[dict], b: list[dict]) -> bool:
    return len(a) == len(b) and all(
        x["name"] == y["name"] and torch.equal(x["image"], y["image"]) and torch.equal(x["label"], y["label"])
        for x, y in zip(a, b))


@pytest.mark.parametrize("make", [_folder_dm, _synthetic_dm])
def test_resuming_at_an_epoch_repeats_it_exactly(tmp_path, make):
    root = folder_tree(tmp_path, n=12, h=24, w=32)
    run = _epochs(make(root, num_workers=2, persistent_workers=True), [0, 1, 2])
    assert len(run[2]) == 3 and not _same_batches(run[1], run[2])
    resumed = _epochs(make(root, num_workers=2, persistent_workers=True), [2])[0]
    assert _same_batches(run[2], resumed)
    assert _same_batches(run[2], _epochs(make(root, num_workers=0), [2])[0])
    assert _same_batches(run[2], _epochs(make(root, num_workers=2, persistent_workers=False), [2])[0])
