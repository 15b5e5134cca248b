"""Training CREPS generators: dataset, StyleGAN2 discriminator, resumable loop (CLI: creps_core.cli.commands.train)."""

from creps_core.train.dataset import DatasetError, ImageDataset
from creps_core.train.loop import TrainOptions, model_configs, train_steps

__all__ = ["DatasetError", "ImageDataset", "TrainOptions", "model_configs", "train_steps"]
