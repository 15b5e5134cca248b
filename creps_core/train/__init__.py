"""Training CREPS generators: dataset, StyleGAN2 discriminator, resumable loop (CLI: creps_core.commands.train)."""

from .dataset import DatasetError, ImageDataset
from .loop import TrainOptions, TrainResult, model_configs, train

__all__ = ["DatasetError", "ImageDataset", "TrainOptions", "TrainResult", "model_configs", "train"]
