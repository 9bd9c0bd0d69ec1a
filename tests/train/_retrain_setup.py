"""Shared tiny retraining setup for the train and evaluate retrain tests (digits, 2 steps)."""

from __future__ import annotations

from lamoo_nas.runtime.data import DataConfig
from lamoo_nas.train.recipes import Recipe
from lamoo_nas.train.retrain import RetrainOptions

DATA = DataConfig(name="digits", batch_size=32, max_train_images=128, calib_images=32)
OPTIONS = RetrainOptions(tensorboard=False, progress=False)


def tiny_recipe(epochs: int = 1) -> Recipe:
    """``epochs`` epochs of 2 steps each, no warm-up, a fast EMA."""
    return Recipe(epochs=epochs, steps_per_epoch=2, warmup_epochs=0.0, ema_decay=0.9)
