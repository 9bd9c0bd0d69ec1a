"""LaMOO: multi-objective optimisation by learned space partitions (see LAMOO.md)."""

from __future__ import annotations

from search.lamoo.strategy import SAMPLERS, SELECT_RULES, LaMOOOptions, LaMOOStrategy
from search.lamoo.tree import TreeOptions, build_tree, partition_labels, select_path
from search.lamoo.trust import TrustRegion, TrustRegionOptions

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
