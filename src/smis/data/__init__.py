"""Datasets and LightningDataModules: Cityscapes, ADE20K, DeepFashion, your own image folders,
and built-in synthetic scenes. Every dataset yields dict(image (3,H,W) in [-1,1],
label (1,H,W) int64 class ids, [instance (1,H,W) int64], name), and has a `spec` (DatasetSpec)."""

from .ade20k import ADE20KDataset
from .builtin_specs import ADE20K, CITYSCAPES, DEEPFASHION, SPECS, SYNTHETIC, dataset_spec
from .cityscapes import CityscapesDataset
from .deepfashion import DeepFashionDataset
from .folder import ImageFolderDataset
from .io import DatasetError
from .sampling import EpochSampler
from .spec import DatasetSpec, LabelRule
from .synthetic import SyntheticScenes

__all__ = ["ADE20K", "ADE20KDataset", "CITYSCAPES", "CityscapesDataset", "DEEPFASHION", "DatasetError",
           "DatasetSpec", "DeepFashionDataset", "EpochSampler", "FileDataModule", "ImageFolderDataModule",
           "ImageFolderDataset", "LabelRule", "SPECS", "SYNTHETIC", "SceneDataModule", "SyntheticDataModule",
           "SyntheticScenes", "dataset_spec"]

# the LightningDataModules import pytorch_lightning (seconds): only when one is asked for, so that
# generation (smis.Synthesizer, smis-generate) starts fast
_DATAMODULES = ("FileDataModule", "ImageFolderDataModule", "SceneDataModule", "SyntheticDataModule")


def __getattr__(name: str):
    if name in _DATAMODULES:
        from . import datamodules

        return getattr(datamodules, name)
    raise AttributeError(f"module 'smis.data' has no attribute {name!r}")
