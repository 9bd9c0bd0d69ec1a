"""A high-dimensional NAS search problem: one of the project's MobileNetV3-style spaces, the
accuracy a regressor predicts from a supernet's inherited accuracies, MACs exact.

    python -m bench.search.space_surrogate      # cross-validation of the candidate regressors
    python -m bench.search.space_surrogate --export RUN/history.json --space cifar \
        --about "how the supernet was trained"

The data: :data:`CIFAR_SPACE_DATA`, shipped with the project (``$SPACE_SURROGATE_DATA`` names
another such file): architectures of the ``cifar`` space (5 stages of 2-4 blocks, kernel 3/5/7
and expansion 3/4/6 per block: 45 decisions, 51 coordinates in the space's encoding), each with
the top-1 accuracy it reached with the weights it inherits from a supernet after BN
recalibration, as a random search's history recorded it (``bench/search/cifar_surrogate.sh``
makes it; its ``about`` says how). A regressor maps an architecture (:func:`arch_features`: the
one-hot choices of its active blocks, so equal architectures score equally) to that accuracy;
the candidates are :data:`bench.search.nas_surrogate.REGRESSORS`' kinds, sized for these
features, and the one with the best 5-fold cross-validated Kendall tau is the problem's. MACs
are the space's exact analytic count at its own resolution. The strategies see the space's own
encoding through :class:`evaluate.codec.ArchCodec`, exactly as ``nas-search`` does.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import RegressorMixin, clone
from sklearn.ensemble import RandomForestRegressor
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.linear_model import RidgeCV

from bench.search.nas_surrogate import CV_FOLDS, choose_regressor, cross_validate_features
from lamoo_nas.evaluate.codec import ArchCodec, Budget
from lamoo_nas.runtime.io import atomic_write_text
from lamoo_nas.search import hypervolume
from lamoo_nas.search.history import SearchHistory
from lamoo_nas.supernet import ArchConfig, CostModel, SearchSpace, load_space

CIFAR_SPACE_DATA = Path(__file__).parent / "data" / "cifar_inherited.json"
"""``{"about", "space", "num_classes", "networks": [{"arch": arch JSON, "accuracy": %}]}``."""
MIN_NETWORKS = 2 * CV_FOLDS
REGRESSORS: dict[str, Callable[[], RegressorMixin]] = {
    "ridge": lambda: RidgeCV(alphas=np.logspace(-3, 3, 13)),
    "forest": lambda: RandomForestRegressor(n_estimators=300, min_samples_leaf=2, random_state=0),
    # one length scale: with ~135 one-hot features, one per feature overfits a few hundred rows
    "gp": lambda: GaussianProcessRegressor(
        ConstantKernel() * RBF(length_scale=3.0) + WhiteKernel(), normalize_y=True, random_state=0
    ),
}


def data_path() -> Path:
    """``$SPACE_SURROGATE_DATA`` or the shipped :data:`CIFAR_SPACE_DATA`."""
    return Path(os.environ.get("SPACE_SURROGATE_DATA", CIFAR_SPACE_DATA))


def arch_features(space: SearchSpace, archs: Sequence[ArchConfig]) -> np.ndarray:
    """``(n, f)`` one-hot features: per stage its depth, per active block its kernel size and
    expansion ratio (an inactive block is all zeros), the width and resolution where the space
    offers more than one."""
    rows = []
    for arch in archs:
        row: list[float] = []
        for spec, stage in zip(space.stages, arch.stages):
            row += _one_hot(stage.depth, spec.depths)
            for j in range(spec.max_depth):
                active = j < stage.depth
                row += _one_hot(stage.kernel_sizes[j] if active else None, spec.kernel_sizes)
                row += _one_hot(stage.expand_ratios[j] if active else None, spec.expand_ratios)
            if len(spec.widths) > 1:
                row += _one_hot(stage.width, spec.widths)
        if len(space.resolutions) > 1:
            row += _one_hot(arch.resolution, space.resolutions)
        rows.append(row)
    return np.asarray(rows, dtype=np.float64)


def _one_hot(value: Any, choices: Sequence[Any]) -> list[float]:
    return [float(value == choice) for choice in choices]


def read_data(path: Path) -> tuple[SearchSpace, int, list[ArchConfig], np.ndarray]:
    """The space, class count, architectures and accuracies (%) of a file like
    :data:`CIFAR_SPACE_DATA`; refuses a file without networks or with one network twice."""
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found; set SPACE_SURROGATE_DATA to a file written by "
            f"python -m bench.search.space_surrogate --export (or unset it)"
        )
    data = json.loads(path.read_text())
    for key in ("space", "num_classes", "networks"):
        if key not in data:
            raise ValueError(f"{path} has no {key!r}; write it with --export")
    space = load_space(data["space"])
    archs = [space.arch_from_json(row["arch"]) for row in data["networks"]]
    if len(set(archs)) != len(archs):
        raise ValueError(f"{path}: {len(archs) - len(set(archs))} networks listed twice")
    if len(archs) < MIN_NETWORKS:
        raise ValueError(
            f"{path} lists {len(archs)} networks; fitting and cross-validating the surrogate "
            f"needs at least {MIN_NETWORKS} (export a longer search)"
        )
    accuracy = np.asarray([float(row["accuracy"]) for row in data["networks"]])
    return space, int(data["num_classes"]), archs, accuracy


def export_history(
    history_path: Path,
    space_name: str,
    about: str,
    out: Path = CIFAR_SPACE_DATA,
    num_classes: int = 10,
) -> int:
    """Write ``out`` (atomically) from a ``nas-search`` history: each distinct architecture
    once with its inherited accuracy (the first objective, ``accuracy``, in %). The history's
    resolution may differ from the space's (a supernet trained at smaller inputs): the
    architectures are stored at ``space_name``'s resolution, which must be single. Returns the
    number of networks written."""
    history = SearchHistory.load(history_path)
    if history.objective_names[:1] != ["accuracy"] or history.objective_units[:1] != ["%"]:
        raise ValueError(f"{history_path}: the first objective is not accuracy in %")
    space = load_space(space_name)
    if len(space.resolutions) != 1:
        raise ValueError(f"space {space_name!r} has several resolutions; export needs one")
    networks: dict[str, float] = {}
    measured_at = set()
    for evaluation in history.evaluations:
        raw = dict(evaluation.arch)  # type: ignore[arg-type]
        measured_at.add(raw.get("resolution"))
        raw["resolution"] = space.resolutions[0]
        # the supernet's space differs from ``space`` in its resolution only (and so in its
        # fingerprint): every other choice is validated against ``space`` here
        raw.pop("space_fingerprint", None)
        key = json.dumps(space.arch_to_json(space.arch_from_json(raw)), sort_keys=True)
        networks.setdefault(key, float(evaluation.objectives[0]))
    payload = {
        "about": about,
        "space": space_name,
        "num_classes": num_classes,
        "measured_at_resolution": sorted(r for r in measured_at if r is not None),
        "networks": [
            {"arch": json.loads(key), "accuracy": round(acc, 4)} for key, acc in networks.items()
        ],
    }
    atomic_write_text(out, json.dumps(payload, indent=1) + "\n")
    return len(networks)


@functools.cache
def fitted_surrogate(
    path: Path,
) -> tuple[SearchSpace, int, RegressorMixin, dict[str, dict[str, float]], float]:
    """The space, class count, chosen regressor fitted on all of ``path``, every candidate's
    cross-validation scores (Kendall tau and R^2 of out-of-fold predictions) and the lowest
    accuracy the regressor predicts for the listed networks (the problem's reference)."""
    space, num_classes, archs, accuracy = read_data(path)
    x = arch_features(space, archs)
    scores = cross_validate_features(x, accuracy, REGRESSORS)
    model = clone(REGRESSORS[choose_regressor(scores)]()).fit(x, accuracy)
    return space, num_classes, model, scores, float(model.predict(x).min())


def surrogate_problem_parts(
    path: Path | None = None,
) -> tuple[ArchCodec, Callable[[Sequence[ArchConfig]], np.ndarray], list[float]]:
    """Codec (no budget), evaluate (surrogate accuracy %, -MACs in millions) and reference
    point: (the lowest accuracy the surrogate gives a listed network, the largest
    architecture's MACs). The space is too large to enumerate, so there is no maximum
    hypervolume."""
    space, num_classes, model, _, lowest = fitted_surrogate(path or data_path())
    cost = CostModel(space, num_classes=num_classes)

    def evaluate(archs: Sequence[ArchConfig]) -> np.ndarray:
        accuracy = model.predict(arch_features(space, archs))
        macs = np.asarray([cost(a).macs for a in archs], dtype=np.float64)
        return np.stack([accuracy, -macs / 1e6], axis=1)

    codec = ArchCodec(space, cost, Budget())
    return codec, evaluate, [lowest, -cost.largest().macs / 1e6]


def describe(path: Path) -> str:
    """A markdown summary of the data and the cross-validation of the regressors."""
    space, _, archs, accuracy = read_data(path)
    scores = fitted_surrogate(path)[3]
    lines = [
        f"{len(archs)} networks of space {space.name!r} from {path}: accuracy "
        f"{accuracy.min():.2f}-{accuracy.max():.2f} % (std {accuracy.std():.2f}); "
        f"{CV_FOLDS}-fold cross-validation:",
        "| regressor | Kendall tau | R^2 |",
        "| --- | ---: | ---: |",
    ]
    lines += [f"| {n} | {s['kendall_tau']:.3f} | {s['r2']:.3f} |" for n, s in scores.items()]
    lines.append(f"chosen: {choose_regressor(scores)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, metavar="HISTORY_JSON", help="write the data")
    parser.add_argument("--space", default="cifar", help="the space the data is stored in")
    parser.add_argument("--about", default="", help="how the supernet was trained")
    parser.add_argument("--num-classes", type=int, default=10, help="classes of its data")
    parser.add_argument("--out", type=Path, default=None, help=f"default {CIFAR_SPACE_DATA}")
    args = parser.parse_args(argv)
    path = args.out or data_path()
    if args.export is not None:
        count = export_history(args.export, args.space, args.about, path, args.num_classes)
        print(f"wrote {count} networks to {path}")
    print(describe(path))
    codec, evaluate, ref = surrogate_problem_parts(path)
    values = evaluate(codec.sample(np.random.default_rng(0), 1000))
    print(
        f"1,000 random architectures: surrogate accuracy {values[:, 0].min():.2f}-"
        f"{values[:, 0].max():.2f} %, MACs {-values[:, 1].max():.2f}-{-values[:, 1].min():.2f} M; "
        f"reference point {ref}, their hypervolume {hypervolume(values, ref):.4g}; "
        f"encoding {codec.dim} coordinates"
    )


if __name__ == "__main__":
    main()
