"""Elastic MobileNetV3 supernet: search space, weight-shared model, exact cost model."""

from __future__ import annotations

from supernet.space import ArchConfig, SearchSpace, StageArch, available_spaces, load_space

__all__ = ["ArchConfig", "SearchSpace", "StageArch", "available_spaces", "load_space"]
