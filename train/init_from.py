"""A supernet run that starts from another supernet's weights (``nas-train-supernet init_from=``).

Fine-tuning, e.g. an imported Once-for-All supernet (``nas-import-ofa``) on your own data: every
weight and BN statistic of the source starts the new run except the classifier, which is
re-created for the new data's class count (``init_classifier=new``, the default) or kept
(``keep``; the class counts must then be equal). The source's EMA weights are used when it has
them. The two spaces must describe the same network: they may differ only in the fields of
:data:`WEIGHT_FREE_FIELDS`, none of which shapes a weight (so ``ofa_mbv3`` can be fine-tuned
with its own resolutions or with smaller ones declared in a copy of its YAML).

Example:
    >>> model = Supernet(load_space("ofa_mbv3"), num_classes=10, kernel_transform=True)
    >>> source = init_from_supernet(model, "runs/ofa_w10")  # doctest: +SKIP
    >>> source.num_classes  # doctest: +SKIP
    1000
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lamoo_nas.supernet.errors import CheckpointError, ConfigError
from lamoo_nas.supernet.model import Supernet
from lamoo_nas.supernet.space import SearchSpace
from lamoo_nas.train.checkpoint import load_supernet
from lamoo_nas.train.errors import InitClassCountError, InitFromError, InitSpaceMismatchError

INIT_CLASSIFIER = ("new", "keep")
"""What ``init_classifier`` may be: a fresh classifier, or the source's."""
CLASSIFIER_KEYS = ("head.classifier.weight", "head.classifier.bias")
WEIGHT_FREE_FIELDS = ("name", "resolutions", "head.dropout")
"""Space fields that shape no weight: a source may differ from the run's space in these."""


@dataclass(frozen=True)
class InitSource:
    """Where a run's initial weights came from (stored in its checkpoints as ``init_from``)."""

    path: str
    space: str
    space_fingerprint: str
    num_classes: int
    classifier: str
    epoch: int
    step: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def init_from_supernet(model: Supernet, source: str | Path, classifier: str = "new") -> InitSource:
    """Copy the weights of the supernet at ``source`` (run directory or checkpoint) into
    ``model`` in place, the classifier as ``classifier`` says; returns where they came from.

    Raises :class:`~train.errors.InitSpaceMismatchError` for a source of another network,
    :class:`~train.errors.InitClassCountError` for ``keep`` with another class count,
    :class:`~train.errors.InitFromError` for a source with kernel-transformation matrices into
    a model without them, and :class:`~supernet.errors.CheckpointError` for a missing, corrupt or
    unfinished source.
    """
    if classifier not in INIT_CLASSIFIER:
        raise ConfigError(
            f"init_classifier is {classifier!r}; allowed: {', '.join(INIT_CLASSIFIER)}"
        )
    try:
        loaded = load_supernet(source, use_ema=True)
    except CheckpointError as err:
        raise type(err)(
            f"init_from={source}: {err}. A Once-for-All file is imported first: nas-import-ofa "
            "FILE run_dir=RUN, then init_from=RUN"
        ) from err
    _check_same_network(loaded.space, model.space, source)
    state = loaded.model.state_dict()
    has_transforms = any(".transforms." in key for key in state)
    if has_transforms and not model.kernel_transform:
        raise InitFromError(
            f"init_from={source} holds kernel-transformation matrices (it was trained or imported "
            "with kernel_transform=true); pass kernel_transform=true so the run keeps them"
        )
    if classifier == "keep" and loaded.num_classes != model.num_classes:
        raise InitClassCountError(
            f"init_classifier=keep needs the source's class count: init_from={source} has "
            f"{loaded.num_classes} classes, this run's data has {model.num_classes}; use "
            "init_classifier=new for a fresh classifier"
        )
    if classifier == "new":
        state = {key: value for key, value in state.items() if key not in CLASSIFIER_KEYS}
    result = model.load_state_dict(state, strict=False)
    allowed = set(CLASSIFIER_KEYS if classifier == "new" else ())
    if not has_transforms:  # a source without matrices: the run's stay identity, as it computed
        allowed |= {key for key in model.state_dict() if ".transforms." in key}
    unexpected = set(result.unexpected_keys) | (set(result.missing_keys) - allowed)
    if unexpected:  # the structure check makes this unreachable for a well-formed checkpoint
        raise InitFromError(
            f"init_from={source} does not fit the run's supernet: {sorted(unexpected)}"
        )
    return InitSource(
        path=str(Path(loaded.path).resolve()),
        space=loaded.space.name,
        space_fingerprint=loaded.space.fingerprint,
        num_classes=loaded.num_classes,
        classifier=classifier,
        epoch=loaded.epoch,
        step=loaded.step,
    )


def _check_same_network(source: SearchSpace, target: SearchSpace, path: str | Path) -> None:
    theirs, ours = _structure(source), _structure(target)
    differing = sorted(key for key in {*theirs, *ours} if theirs.get(key) != ours.get(key))
    if differing:
        raise InitSpaceMismatchError(
            f"init_from={path} is a supernet of space {source.name!r}, another network than this "
            f"run's space {target.name!r} (they differ in {', '.join(differing)}; only "
            f"{', '.join(WEIGHT_FREE_FIELDS)} may differ); pass space={source.name} or a copy of "
            "its YAML"
        )


def _structure(space: SearchSpace) -> dict[str, Any]:
    """The space's definition without the fields of :data:`WEIGHT_FREE_FIELDS`."""
    plain = space.to_dict()
    for dotted in WEIGHT_FREE_FIELDS:
        *parents, leaf = dotted.split(".")
        node = plain
        for part in parents:
            node = node[part] = dict(node[part])
        node.pop(leaf, None)
    return plain
