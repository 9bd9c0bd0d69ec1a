"""LaMOO: multi-objective optimisation by learned space partitions (docs: concepts/lamoo.md)."""

from __future__ import annotations

from lamoo_nas.search.lamoo.strategy import SAMPLERS, SELECT_RULES, LaMOOOptions, LaMOOStrategy
from lamoo_nas.search.lamoo.tree import TreeOptions, build_tree, partition_labels, select_path
from lamoo_nas.search.lamoo.trust import TrustRegion, TrustRegionOptions

__all__ = [
    "SAMPLERS",
    "SELECT_RULES",
    "LaMOOOptions",
    "LaMOOStrategy",
    "TreeOptions",
    "TrustRegion",
    "TrustRegionOptions",
    "build_tree",
    "partition_labels",
    "select_path",
]
