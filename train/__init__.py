"""Supernet training, retraining from scratch, training loops, checkpoints and data loading."""
