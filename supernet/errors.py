"""Exception classes shared by the supernet, training and evaluation packages.

Every message names the bad value, the allowed values where there are some, and what to do.
"""

from __future__ import annotations


class NASError(Exception):
    """Base class of every error this project raises on purpose."""


class SpaceDefinitionError(NASError, ValueError):
    """A search-space definition (YAML or dict) is malformed."""


class ArchValidationError(NASError, ValueError):
    """An architecture has a choice that its search space does not allow."""


class ArchSpaceMismatchError(ArchValidationError):
    """An architecture (or checkpoint) was made for another search space."""


class CheckpointError(NASError, RuntimeError):
    """A checkpoint is missing, corrupt, truncated or made for something else."""


class DatasetError(NASError, ValueError):
    """A dataset name is unknown, or its files are missing or empty."""


class ConfigError(NASError, ValueError):
    """A configuration value is out of range or inconsistent."""


class OFACheckpointError(CheckpointError):
    """A Once-for-All checkpoint cannot be imported: truncated, incomplete or misshapen."""


class OFAUnsupportedNetworkError(OFACheckpointError):
    """The checkpoint holds an OFA network other than a MobileNetV3 supernet (ProxylessNAS,
    ResNet, a specialised subnet)."""


class OFAWidthError(OFACheckpointError):
    """The checkpoint is an OFA MobileNetV3 supernet of a width without a preset here."""


class LatencyLookupError(NASError, ValueError):
    """A latency table lacks pieces (:class:`supernet.shapes.Piece`) that an architecture or a
    space needs."""
