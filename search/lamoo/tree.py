"""LaMOO's learned space partition: split by dominance, classify by SVM, value by hypervolume.

The tree is rebuilt from scratch at every iteration from the feasible samples (see the docs page
concepts/lamoo.md): a node with at least ``split_min`` samples labels the first ``floor(n/2) + 1``
of them (sorted by dominance number, ties by non-domination rank then crowding distance) as good,
fits an ``sklearn.svm.SVC`` on the encodings scaled to ``[-1, 1]``, and gives each child the samples
of its *label* and the side of the SVM of that label as its *region*.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import SVC

from lamoo_nas.search.errors import InvalidOptionError, UnknownStrategyError
from lamoo_nas.search.pareto import dominance_numbers, hypervolume, rank_and_crowding
from lamoo_nas.search.population import objective_span, reference_shortfall

GOOD, BAD = 0, 1
KERNELS = ("rbf", "poly", "linear")
Kernel = Literal["rbf", "poly", "linear"]


@dataclass(frozen=True)
class TreeOptions:
    """Partition hyperparameters.

    The defaults ``split_min=8`` and ``svm_c=10`` (the paper's description: 16 and sklearn's
    ``C=1``) were chosen on pilot seeds of the search benchmark (docs page
    benchmarks/search-engine.md): with ``C=1`` the RBF SVM misfits its own labels and in 30
    dimensions its good side is barely better than the whole box; a harder margin and leaves of 8
    made LaMOO(random) need fewer samples on all six problems piloted.

    Attributes:
        split_min: a node splits when it holds at least this many samples.
        max_nodes: splitting stops before the tree would exceed this many nodes.
        kernel: SVC kernel, one of ``KERNELS`` (``poly`` uses ``degree`` and ``coef0 = 1``).
        degree: polynomial degree of the ``poly`` kernel.
        svm_c: SVC regularisation ``C``.
        cut_folds: 0 (the default) keeps every cut the SVM can fit. ``k >= 2`` keeps a cut only
            when it tells held-out samples apart: in a stratified ``k``-fold split of the node's
            samples (fewer folds when a label has fewer samples), SVMs with the same options,
            fitted on the other folds, must label the held-out ones with an accuracy of at
            least ``cut_min_accuracy``. Otherwise the node stays a leaf. Meant for
            high-dimensional spaces, where a cut through a few samples can fit its labels
            and still say nothing about new points.
        cut_min_accuracy: the held-out accuracy a cut needs when ``cut_folds >= 2`` (the labels
            are about half good, half bad, so chance is about 0.5).
    """

    split_min: int = 8
    max_nodes: int = 50
    kernel: Kernel = "rbf"
    degree: int = 4
    svm_c: float = 10.0
    cut_folds: int = 0
    cut_min_accuracy: float = 0.6

    def __post_init__(self) -> None:
        if self.kernel not in KERNELS:
            raise UnknownStrategyError(f"kernel {self.kernel!r} is not one of {KERNELS}")
        if self.split_min < 2 or self.max_nodes < 1:
            raise InvalidOptionError(
                f"need split_min >= 2 and max_nodes >= 1, got split_min={self.split_min}, "
                f"max_nodes={self.max_nodes}"
            )
        if self.cut_folds == 1 or self.cut_folds < 0:
            raise InvalidOptionError(
                f"cut_folds={self.cut_folds}: use 0 (no held-out check) or at least 2 folds"
            )
        if not 0.0 <= self.cut_min_accuracy <= 1.0:
            raise InvalidOptionError(
                f"cut_min_accuracy={self.cut_min_accuracy} is not an accuracy in [0, 1]"
            )


@dataclass(frozen=True)
class Cut:
    """One side of a fitted SVM: accepts encodings the classifier assigns to ``label``."""

    classifier: SVC
    label: int

    def accepts(self, x: np.ndarray) -> np.ndarray:
        """``(n,)`` bool for encodings ``x`` ``(n, d)`` in ``[0, 1]``."""
        if x.shape[0] == 0:
            return np.zeros(0, dtype=bool)
        return self.classifier.predict(scale_inputs(x)) == self.label


@dataclass
class Node:
    """A tree node: its samples (indices into the data), region (cuts from the root) and value."""

    index: int
    parent: int | None
    samples: np.ndarray
    cuts: tuple[Cut, ...]
    children: list[int] = field(default_factory=list)
    value: float = 0.0
    ucb: float = 0.0

    @property
    def is_leaf(self) -> bool:
        return not self.children


def scale_inputs(x: np.ndarray) -> np.ndarray:
    """Map encodings from ``[0, 1]`` to the fixed range ``[-1, 1]`` (data independent)."""
    return 2.0 * np.asarray(x, dtype=np.float64) - 1.0


def region_accepts(cuts: tuple[Cut, ...], x: np.ndarray) -> np.ndarray:
    """``(n,)`` bool: encodings ``x`` ``(n, d)`` that every cut accepts."""
    keep = np.ones(x.shape[0], dtype=bool)
    for cut in cuts:
        if not keep.any():
            break
        keep[keep] = cut.accepts(x[keep])
    return keep


def partition_labels(y: np.ndarray) -> np.ndarray:
    """Good (0) / bad (1) labels of ``y`` ``(n, m)``: the first ``n // 2 + 1`` after a stable
    sort by dominance number, ties by non-domination rank then crowding (larger first).

    Example:
        >>> partition_labels(np.array([[3.0, 3.0], [0.0, 0.0], [2.0, 1.0], [1.0, 2.0]])).tolist()
        [0, 1, 0, 0]
    """
    n = y.shape[0]
    rank, crowd = rank_and_crowding(y)
    order = np.lexsort((np.arange(n), -crowd, rank, dominance_numbers(y)))
    labels = np.full(n, BAD, dtype=np.int64)
    labels[order[: n // 2 + 1]] = GOOD
    return labels


def fit_split(x: np.ndarray, labels: np.ndarray, options: TreeOptions) -> SVC | None:
    """An SVC separating ``labels``, or None when a split is impossible: one label class, the
    fitted SVC predicts one class on its own training points, or (``options.cut_folds >= 2``)
    it fails the held-out check (:func:`held_out_accuracy`). Never fits one class."""
    if np.unique(labels).size < 2:
        return None
    svc = _svc(options).fit(scale_inputs(x), labels)
    if np.unique(svc.predict(scale_inputs(x))).size < 2:
        return None
    if options.cut_folds >= 2:
        accuracy = held_out_accuracy(x, labels, options)
        if accuracy is None or accuracy < options.cut_min_accuracy:
            return None
    return svc


def held_out_accuracy(x: np.ndarray, labels: np.ndarray, options: TreeOptions) -> float | None:
    """Accuracy of ``options``' SVM on held-out samples: a stratified split into
    ``options.cut_folds`` folds (fewer when a label has fewer samples, the same split for the
    same data), each fold labelled by an SVM fitted on the others. None when a label has fewer
    than 2 samples (nothing can be held out).

    Example:
        >>> x = np.linspace(0.0, 1.0, 20)[:, None]
        >>> labels = (x[:, 0] > 0.5).astype(np.int64)
        >>> held_out_accuracy(x, labels, TreeOptions(cut_folds=4))
        1.0
    """
    folds = min(options.cut_folds, int(np.bincount(labels).min()))
    if folds < 2:
        return None
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    scaled = scale_inputs(x)
    right = 0
    for train, test in split.split(scaled, labels):
        predicted = _svc(options).fit(scaled[train], labels[train]).predict(scaled[test])
        right += int((predicted == labels[test]).sum())
    return right / labels.size


def _svc(options: TreeOptions) -> SVC:
    # a fixed random_state keeps sklearn from drawing libsvm's seed from the global numpy RNG;
    # without probability estimates that seed changes nothing in the fit
    return SVC(
        kernel=options.kernel,
        gamma="scale",
        degree=options.degree,
        coef0=1.0,
        C=options.svm_c,
        random_state=0,
    )


def build_tree(
    x: np.ndarray,
    y: np.ndarray,
    ref_point: np.ndarray,
    options: TreeOptions,
    cp: float | None = None,
) -> list[Node]:
    """Build and value the tree over feasible samples; ``nodes[0]`` is the root.

    Args:
        x: ``(n, d)`` encodings in ``[0, 1]``; ``y``: ``(n, m)`` maximised objectives.
        ref_point: ``(m,)`` global reference point for node hypervolumes.
        options: split hyperparameters.
        cp: UCB exploration constant; None means ``0.1 *`` the hypervolume of all samples.
    """
    nodes = [Node(index=0, parent=None, samples=np.arange(x.shape[0]), cuts=())]
    queue = deque([0])
    while queue and len(nodes) + 2 <= options.max_nodes:
        node = nodes[queue.popleft()]
        if node.samples.size < options.split_min:
            continue
        labels = partition_labels(y[node.samples])
        svc = fit_split(x[node.samples], labels, options)
        if svc is None:
            continue
        for label in (GOOD, BAD):
            child = Node(
                index=len(nodes),
                parent=node.index,
                samples=node.samples[labels == label],
                cuts=(*node.cuts, Cut(svc, label)),
            )
            node.children.append(child.index)
            nodes.append(child)
            queue.append(child.index)
    assign_ucb(nodes, y, ref_point, cp)
    return nodes


def assign_ucb(nodes: list[Node], y: np.ndarray, ref_point: np.ndarray, cp: float | None) -> None:
    """Set ``value`` and ``ucb = value + 2 * cp * sqrt(2 ln n_parent / n)`` on every node
    (root: ucb = value); ``cp`` None means ``0.1 * |root value|``.

    A node's value is the hypervolume of its own samples. While no sample beats the reference
    point (every hypervolume 0), it is minus the smallest :func:`search.population.
    reference_shortfall` of its samples instead: the region closest to the reference box is
    the promising one, and the selection is not a coin toss among leaves of value 0.

    Example:
        >>> y = np.array([[-2.0, -1.5], [-1.2, -3.0]])
        >>> nodes = [Node(0, None, np.arange(2), (), [1, 2]), Node(1, 0, np.array([0]), ()),
        ...          Node(2, 0, np.array([1]), ())]
        >>> assign_ucb(nodes, y, np.array([-1.0, -1.0]), 0.0)
        >>> [round(n.value, 3) for n in nodes]
        [-1.2, -1.25, -1.2]
    """
    for node in nodes:
        node.value = hypervolume(y[node.samples], ref_point)
    if nodes[0].samples.size and nodes[0].value <= 0.0:
        shortfall = reference_shortfall(y, ref_point, objective_span(y, ref_point))
        for node in nodes:
            node.value = -float(shortfall[node.samples].min()) if node.samples.size else 0.0
    c = 0.1 * abs(nodes[0].value) if cp is None else cp
    for node in nodes:
        node.ucb = node.value
        if node.parent is not None:
            n_parent = nodes[node.parent].samples.size
            node.ucb += 2.0 * c * np.sqrt(2.0 * np.log(n_parent) / node.samples.size)


def select_path(
    nodes: list[Node], rule: Literal["leaf", "path"], rng: np.random.Generator
) -> list[int]:
    """Root-to-leaf node indices of the selected region.

    ``leaf``: the leaf with the largest UCB (ties at random). ``path``: from the root, always
    descend into the child with the larger UCB (ties at random).
    """
    if rule == "leaf":
        leaves = [n for n in nodes if n.is_leaf]
        target = leaves[_argmax_random([n.ucb for n in leaves], rng)].index
        path = [target]
        while nodes[path[0]].parent is not None:
            path.insert(0, nodes[path[0]].parent)  # type: ignore[arg-type]
        return path
    path = [0]
    for _ in range(len(nodes)):  # bounded descent
        node = nodes[path[-1]]
        if node.is_leaf:
            break
        children = [nodes[c] for c in node.children]
        path.append(children[_argmax_random([c.ucb for c in children], rng)].index)
    return path


def _argmax_random(values: list[float], rng: np.random.Generator) -> int:
    arr = np.asarray(values, dtype=np.float64)
    best = np.flatnonzero(arr >= arr.max() - 1e-12 * max(1.0, abs(arr.max())))
    return int(best[rng.integers(best.size)]) if best.size > 1 else int(best[0])
