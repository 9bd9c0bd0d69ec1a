"""Elastic MobileNetV3 supernet: search space, weight-shared model, exact cost model."""

from __future__ import annotations

from lamoo_nas.supernet import op_types  # noqa: F401  (registers the built-in block types)
from lamoo_nas.supernet.bn import recalibrate_bn
from lamoo_nas.supernet.cost import Cost, CostModel, count_cost
from lamoo_nas.supernet.model import Supernet, resize_to
from lamoo_nas.supernet.space import (
    ArchConfig,
    SearchSpace,
    StageArch,
    available_spaces,
    load_space,
)
from lamoo_nas.supernet.static import StaticNet, build_static

__all__ = [
    "ArchConfig",
    "Cost",
    "CostModel",
    "SearchSpace",
    "StageArch",
    "StaticNet",
    "Supernet",
    "available_spaces",
    "build_static",
    "count_cost",
    "load_space",
    "recalibrate_bn",
    "resize_to",
]
