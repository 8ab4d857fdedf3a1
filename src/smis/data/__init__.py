"""Datasets and LightningDataModules: Cityscapes, ADE20K, DeepFashion, your own image folders,
and built-in synthetic scenes. Every dataset yields dict(image (3,H,W) in [-1,1],
label (1,H,W) int64 class ids, [instance (1,H,W) int64], name)."""

from .ade20k import ADE20KDataset
from .cityscapes import CityscapesDataset
from .classes import ClassInfo
from .datamodules import (
                          DATAMODULES,
                          ADE20KDataModule,
                          CityscapesDataModule,
                          DeepFashionDataModule,
                          ImageFolderDataModule,
                          SceneDataModule,
                          SyntheticDataModule,
)
from .deepfashion import DeepFashionDataset
from .folder import ImageFolderDataset
from .io import DatasetError
from .sampling import EpochSampler
from .synthetic import SYNTHETIC, SyntheticScenes

__all__ = ["ADE20KDataModule", "ADE20KDataset", "CityscapesDataModule", "CityscapesDataset", "ClassInfo",
           "DATAMODULES", "DatasetError", "DeepFashionDataModule", "EpochSampler", "DeepFashionDataset",
           "ImageFolderDataModule", "ImageFolderDataset", "SYNTHETIC", "SceneDataModule",
           "SyntheticDataModule", "SyntheticScenes"]
