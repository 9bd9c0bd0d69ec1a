"""Few-shot supernets (Zhao et al., ICML 2021): split a trained one-shot supernet's weight
sharing into K sub-supernets, one per region of the space, each fine-tuned from the one-shot
weights with the run's sampler restricted to its region.

``nas-train-supernet few_shot=choices few_shot.parent=RUN few_shot.split=[...]`` or
``few_shot=learned few_shot.num_regions=K`` calls :func:`train_few_shot`. The regions are a
:class:`supernet.partition.ChoicePartition` (declared decision points) or a
:class:`supernet.partition.LearnedPartition` fitted here: ``num_archs`` random architectures
scored with the parent's inherited weights and counted in MACs, split by LaMOO's tree
(:func:`search.lamoo.tree.build_tree`: dominance labels, SVM cuts) until it has K leaves. The
run directory (:mod:`train.few_shot`) holds the partition and one supernet run per region;
``few_shot.epochs`` is the total extra budget, ``epochs / K`` per region (K = 1 is the one-shot
supernet trained on for the same budget: the fair control). A rerun with ``resume=true``
continues: finished regions are kept, an interrupted one resumes from its ``last.pt``, the
partition is read back, never refitted.

Example (shell)::

    nas-train-supernet experiment=nbmacro_cifar_cpu few_shot=choices few_shot.parent=runs/sn \\
        few_shot.split=[stages.0.layers.0.op] few_shot.epochs=3 run_dir=runs/few3
    nas-evaluate mode=rank supernet=runs/few3 truth=TABLE   # routes each arch to its region
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lamoo_nas.evaluate.accuracy_cache import weights_fingerprint
from lamoo_nas.evaluate.errors import EvaluateError
from lamoo_nas.evaluate.evaluator import InheritedAccuracyEvaluator
from lamoo_nas.runtime.data import DataConfig, build_data
from lamoo_nas.runtime.distributed import DistContext, barrier
from lamoo_nas.runtime.io import atomic_write_text
from lamoo_nas.runtime.rundir import RunDirectory
from lamoo_nas.search.lamoo.tree import Node, TreeOptions, build_tree, region_accepts, scale_inputs
from lamoo_nas.supernet import CostModel, SearchSpace
from lamoo_nas.supernet.errors import ConfigError
from lamoo_nas.supernet.few_shot import FewShotSupernet
from lamoo_nas.supernet.partition import (
    ChoicePartition,
    LearnedPartition,
    Partition,
    SvmCut,
    TreeNode,
    partition_from_json,
)
from lamoo_nas.train.checkpoint import FINAL_NAME, LAST_NAME, LoadedSupernet, load_supernet
from lamoo_nas.train.few_shot import PARTITION_NAME, region_dir
from lamoo_nas.train.run import SupernetTrainConfig, train_supernet
from lamoo_nas.train.sampler import Region

KINDS = ("none", "choices", "learned")


class FewShotError(EvaluateError):
    """A few-shot run that cannot be made: a parent of another space, a split that fails."""


@dataclass(frozen=True)
class FewShotConfig:
    """The ``few_shot`` group (``conf/few_shot/*.yaml``)."""

    kind: str = "none"
    parent: str | None = None  # the trained one-shot supernet (run directory or checkpoint)
    epochs: int = 1  # total fine-tuning epochs over all regions (epochs / K each)
    split: tuple[str, ...] = ()  # choices: the decision points
    groups: dict[str, list[list[Any]]] = field(default_factory=dict)  # choices: optional groups
    num_regions: int = 2  # learned: K
    num_archs: int = 200  # learned: architectures scored to fit the tree
    calib_images: int = 256  # learned: BN recalibration images per scored architecture

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"few_shot.kind is {self.kind!r}; allowed: {', '.join(KINDS)}")
        if self.kind == "none":
            return
        if not self.parent:
            raise ConfigError(
                f"few_shot={self.kind} needs few_shot.parent=RUN: the trained one-shot supernet "
                "whose weights every sub-supernet starts from"
            )
        for name in ("epochs", "num_archs", "calib_images"):
            value = getattr(self, name)
            if isinstance(value, bool) or value < 1:
                raise ConfigError(f"few_shot.{name} must be a positive integer, got {value!r}")
        if self.kind == "learned" and self.num_regions < 1:
            raise ConfigError(f"few_shot.num_regions must be >= 1, got {self.num_regions!r}")


@dataclass
class FewShotSummary:
    run_dir: Path
    partition: Partition
    epochs_per_region: int


def train_few_shot(
    cfg: SupernetTrainConfig, few: FewShotConfig, run_dir: Path, ctx: DistContext
) -> FewShotSummary:
    """Make (or read back) the partition and fine-tune one sub-supernet per region from
    ``few.parent`` into ``run_dir``; see the module docstring."""
    assert few.parent is not None
    parent = load_supernet(few.parent, map_location=ctx.device)
    if isinstance(parent.model, FewShotSupernet):
        raise FewShotError(
            f"few_shot.parent={few.parent} is itself a few-shot run; give the one-shot "
            "supernet it was split from"
        )
    if parent.space.fingerprint != cfg.space.fingerprint:
        raise FewShotError(
            f"few_shot.parent={few.parent} is a supernet of space {parent.space.name!r} "
            f"({parent.space.fingerprint}), this run's space is {cfg.space.name!r} "
            f"({cfg.space.fingerprint}); give the parent's space= (and its data settings)"
        )
    run_dir = Path(run_dir)
    fingerprints = {"space": cfg.space.fingerprint, "parent": weights_fingerprint(parent.model)}
    run = None
    if ctx.is_main:
        run = RunDirectory.open(
            run_dir,
            "few_shot",
            cfg.resolved,
            fingerprints,
            resume=cfg.run.resume is not None,
            resume_changes=cfg.run.resume_changes,
        )
    try:
        partition = _partition(cfg, few, parent, run_dir, ctx)
        per_region = _epochs_per_region(few.epochs, partition.num_regions)
        for k in range(partition.num_regions):
            _train_region(cfg, few, parent, partition, k, per_region, run_dir, ctx)
        if run is not None:
            run.finish()
    finally:
        if run is not None:
            run.close()
    return FewShotSummary(run_dir, partition, per_region)


def _epochs_per_region(epochs: int, num_regions: int) -> int:
    if epochs % num_regions:
        raise ConfigError(
            f"few_shot.epochs={epochs} does not split evenly over {num_regions} regions; give a "
            f"multiple of {num_regions} (each sub-supernet trains epochs / {num_regions})"
        )
    return epochs // num_regions


def _partition(
    cfg: SupernetTrainConfig,
    few: FewShotConfig,
    parent: LoadedSupernet,
    run_dir: Path,
    ctx: DistContext,
) -> Partition:
    path = run_dir / PARTITION_NAME
    if path.is_file():  # a resumed run keeps its regions
        return partition_from_json(path.read_text(), cfg.space, str(path))
    if few.kind == "choices":
        partition: Partition = ChoicePartition.build(cfg.space, few.split, few.groups)
    else:
        partition = fit_learned_partition(
            parent, cfg.data, few.num_regions, few.num_archs, few.calib_images, cfg.run.seed,
            ctx.device,
        )  # fmt: skip
    if ctx.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, partition.to_json() + "\n")
        print(f"few-shot split into {partition.num_regions} regions:", flush=True)
        for k, name in enumerate(partition.region_names):
            print(f"  region {k}: {name}", flush=True)
    barrier(ctx)
    return partition


def _train_region(
    cfg: SupernetTrainConfig,
    few: FewShotConfig,
    parent: LoadedSupernet,
    partition: Partition,
    k: int,
    epochs: int,
    run_dir: Path,
    ctx: DistContext,
) -> None:
    folder = region_dir(run_dir, k)
    if (folder / FINAL_NAME).is_file():
        return
    last = folder / LAST_NAME
    schedule = dataclasses.replace(
        cfg.schedule, epochs=epochs, warmup_epochs=min(cfg.schedule.warmup_epochs, epochs)
    )
    options = dataclasses.replace(
        cfg.run,
        init_from=str(parent.path),
        init_classifier="keep",
        resume=str(last) if last.is_file() else None,
    )
    resolved = {**cfg.resolved, "few_shot_region": {"index": k, "of": partition.num_regions}}
    region_cfg = dataclasses.replace(
        cfg, schedule=schedule, run=options, region=Region(partition, k), resolved=resolved
    )
    if ctx.is_main:
        name = partition.region_names[k]
        print(f"== region {k + 1}/{partition.num_regions}: {name} ({epochs} epochs) ==", flush=True)
    train_supernet(region_cfg, folder, ctx)


def fit_learned_partition(
    parent: LoadedSupernet,
    data: DataConfig,
    num_regions: int,
    num_archs: int,
    calib_images: int,
    seed: int,
    device: Any = "cpu",
) -> LearnedPartition:
    """LaMOO's partition of ``parent``'s space into ``num_regions`` leaves, fitted on
    ``num_archs`` random architectures' inherited validation accuracy and MACs (both maximised
    as accuracy and -MACs): the tree splits its nodes breadth-first, each by dominance labels
    and an SVM, until it has ``num_regions`` leaves.

    Raises :class:`FewShotError` when the samples do not allow that many leaves.
    """
    space = parent.space
    if num_regions < 2:
        raise FewShotError(f"few_shot.num_regions must be >= 2 for a split, got {num_regions}")
    split_min = 4
    if num_archs < split_min * num_regions:
        raise FewShotError(
            f"few_shot.num_archs={num_archs} architectures cannot make {num_regions} regions "
            f"(each split needs >= {split_min} of them); give num_archs >= "
            f"{split_min * num_regions}, or fewer regions"
        )
    archs = _distinct_archs(space, num_archs, np.random.default_rng(seed))
    bundle = build_data(data, image_size=max(space.resolutions))
    evaluator = InheritedAccuracyEvaluator.from_bundle(
        parent.model, bundle, calib_images, data.eval_batch_size, device
    )
    print(f"learned split: scoring {len(archs)} architectures with the parent", flush=True)
    accuracy = evaluator.accuracy(archs)
    cost = CostModel(space, parent.num_classes)
    macs = np.array([cost(a).macs for a in archs], dtype=np.float64)
    y = np.column_stack([accuracy, -macs / macs.max()])
    x = space.encode_many(archs)
    # C=1: the setting the learned splits of docs/benchmarks/few-shot.md were measured with
    # (the search's is 10)
    options = TreeOptions(split_min=split_min, max_nodes=2 * num_regions - 1, svm_c=1.0)
    nodes = build_tree(x, y, y.min(axis=0) - 1e-9, options)
    leaves = [n for n in nodes if n.is_leaf]
    if len(leaves) < num_regions:
        raise FewShotError(
            f"LaMOO's tree split {len(archs)} architectures into only {len(leaves)} regions, not "
            f"{num_regions} (an SVM could not separate a node's good and bad halves); give more "
            "few_shot.num_archs or fewer few_shot.num_regions"
        )
    tree = _as_partition_nodes(nodes, x)
    fitted_on = {"parent": str(parent.path), "num_archs": len(archs), "seed": seed,
                 "calib_images": calib_images, "objectives": ["accuracy", "macs"]}  # fmt: skip
    placeholder = [f"leaf {k}" for k in range(len(leaves))]
    regions = LearnedPartition(space.fingerprint, tree, placeholder).regions_of(x)
    for k, leaf in enumerate(leaves):  # the stored cuts route as the fitted SVMs do
        if not np.array_equal(region_accepts(leaf.cuts, x), regions == k):
            raise FewShotError("the stored SVM cuts do not reproduce the tree's regions")
    names = []
    for k in range(len(leaves)):
        inside = regions == k
        names.append(
            f"leaf {k}: {int(inside.sum())} of {len(archs)} sampled archs, inherited acc "
            f"{100 * accuracy[inside].mean():.1f} %, {macs[inside].mean() / 1e6:.2f}M MACs"
            if inside.any()
            else f"leaf {k}: none of the {len(archs)} sampled archs"
        )
    return LearnedPartition(space.fingerprint, tree, names, fitted_on)


def _distinct_archs(space: SearchSpace, n: int, rng: np.random.Generator) -> list:
    archs = list(dict.fromkeys(space.sample(rng) for _ in range(20 * n)))[:n]
    if len(archs) < n:
        raise FewShotError(f"space {space.name!r} has fewer than {n} distinct architectures")
    return archs


def _as_partition_nodes(nodes: list[Node], x: np.ndarray) -> list[TreeNode]:
    """The tree as :class:`TreeNode` s, leaves numbered in tree order, each SVM stored as
    numbers (checked to predict as sklearn does on ``x``)."""
    leaf_ids = {n.index: k for k, n in enumerate(n for n in nodes if n.is_leaf)}
    out = []
    for node in nodes:
        if node.is_leaf:
            out.append(TreeNode(region=leaf_ids[node.index]))
            continue
        children = [nodes[c] for c in node.children]
        svc = children[0].cuts[-1].classifier
        cut = SvmCut(
            kernel=str(svc.kernel),
            gamma=float(svc._gamma),
            degree=int(svc.degree),
            coef0=float(svc.coef0),
            support_vectors=np.asarray(svc.support_vectors_, dtype=np.float64),
            dual_coef=np.asarray(svc.dual_coef_, dtype=np.float64).reshape(-1),
            intercept=float(svc.intercept_[0]),
            classes=(int(svc.classes_[0]), int(svc.classes_[1])),
        )
        if not np.array_equal(cut.predict(x), svc.predict(scale_inputs(x))):
            raise FewShotError("an SVM cut could not be stored exactly")
        out.append(TreeNode(cut=cut, children=tuple((c.cuts[-1].label, c.index) for c in children)))
    return out
