"""Supernet training, retraining from scratch, training loops and the supernet checkpoint format
(the run platform it stands on is :mod:`lamoo_nas.runtime`)."""
