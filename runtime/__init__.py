"""The run platform every package uses: atomic files, run directories, typed settings,
distributed set-up, the generic checkpointer, metrics and data. Imports nothing of training."""
