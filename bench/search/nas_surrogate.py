"""A NAS search problem on a supernet's inherited accuracies: NAS-Bench-Macro's space, accuracy
from a regressor fitted on what a trained supernet measured, MACs exact.

    python -m bench.search.nas_surrogate      # cross-validation of the candidate regressors
    python -m bench.search.nas_surrogate --export RUN/rank_sandwich_val10k/fidelity.json

The data: :data:`INHERITED_DATA`, shipped with the project (``$NBMACRO_FIDELITY`` names
another such file or a ``fidelity.json`` of ``nas-evaluate mode=rank``): 100 architectures of
the ``nbmacro`` space, stratified over MACs deciles, each scored with the weights it inherits
from a supernet trained on CPU by ``bench/nbmacro/cpu_experiment.sh`` (sandwich rule, 16x16
inputs) after BN recalibration, top-1 on 10,000 held-out CIFAR-10 training images
(``--export`` writes it from the script's ``runs/nbmacro_cpu/rank_sandwich_val10k``). A regressor
maps an architecture (the one-hot digits of its canonical NAS-Bench-Macro string, so strings of
one network score equally) to that accuracy; :data:`REGRESSORS` are the candidates and the one
with the best 5-fold cross-validated Kendall tau is the problem's (:func:`choose_regressor`,
decided by the rule, not by hand). MACs are NAS-Bench-Macro's exact ``flops`` at 32x32. The
search problem is then the one a one-shot NAS search over this supernet faces: maximise the
(surrogate) inherited accuracy, minimise MACs, over all 3^8 strings.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import kendalltau
from sklearn.base import RegressorMixin, clone
from sklearn.ensemble import RandomForestRegressor
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import KFold

from lamoo_nas.runtime.io import atomic_write_text
from lamoo_nas.search import CategoricalCodec, hypervolume
from lamoo_nas.supernet.nbmacro import OP_DIGITS, STAGE_LAYERS, canonical_code

NBMACRO_DIGITS = 3
REGRESSORS: dict[str, Callable[[], RegressorMixin]] = {
    "ridge": lambda: RidgeCV(alphas=np.logspace(-3, 3, 13)),
    "forest": lambda: RandomForestRegressor(n_estimators=300, min_samples_leaf=2, random_state=0),
    "gp": lambda: GaussianProcessRegressor(
        ConstantKernel() * RBF(length_scale=np.ones(8 * NBMACRO_DIGITS)) + WhiteKernel(),
        normalize_y=True,
        random_state=0,
    ),
}
"""Candidate surrogates (scikit-learn, fixed seeds): an additive linear model, a random forest,
a GP with one length scale per one-hot feature."""
CV_FOLDS = 5
INHERITED_DATA = Path(__file__).parent / "data" / "nbmacro_inherited.json"
"""The shipped inherited accuracies: ``{"about": ..., "networks": {canonical string: %}}``."""


def fidelity_path() -> Path:
    """``$NBMACRO_FIDELITY`` or the shipped :data:`INHERITED_DATA`."""
    return Path(os.environ.get("NBMACRO_FIDELITY", INHERITED_DATA))


def code_of(arch: dict[str, Any]) -> str:
    """The canonical NAS-Bench-Macro string of an ``nbmacro`` arch as JSON (any resolution)."""
    parts = []
    for layers, stage in zip(STAGE_LAYERS, arch["stages"]):
        ops = zip(stage["kernel_sizes"], stage["expand_ratios"])
        parts.append("".join(OP_DIGITS[(int(k), float(e))] for k, e in ops).ljust(layers, "0"))
    return canonical_code("".join(parts))


def read_inherited(path: Path) -> dict[str, float]:
    """Canonical string -> inherited accuracy (%): the ``networks`` of a file like
    :data:`INHERITED_DATA`, or every row of a ``fidelity.json``."""
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found; set NBMACRO_FIDELITY to a fidelity.json of nas-evaluate "
            f"mode=rank on an nbmacro supernet (or unset it for {INHERITED_DATA.name})"
        )
    data = json.loads(path.read_text())
    if "networks" in data:
        networks = {canonical_code(c): float(a) for c, a in data["networks"].items()}
        if len(networks) != len(data["networks"]):
            raise ValueError(f"{path}: two strings of one network")
        return networks
    if "rows" not in data:
        raise ValueError(f"{path} has neither 'networks' nor 'rows' (a fidelity.json)")
    rows = data["rows"]
    out = {code_of(row["arch"]): 100.0 * float(row["inherited"]) for row in rows}
    if len(out) != len(rows):
        raise ValueError(f"{path}: {len(rows)} rows but {len(out)} distinct networks")
    return out


def export_inherited(fidelity: Path, out: Path = INHERITED_DATA) -> dict[str, float]:
    """Write the inherited accuracies of a ``fidelity.json`` to ``out`` (atomically), with
    what they measured; returns them."""
    networks = read_inherited(fidelity)
    source = json.loads(fidelity.read_text())
    about = {key: source[key] for key in ("space", "num_archs") if key in source}
    if "supernet" in source.get("metrics", {}):
        about["kendall_tau_vs_stand_alone"] = source["metrics"]["supernet"]["kendall_tau"]
    text = json.dumps(
        {
            "about": (
                "Top-1 accuracy (%) of NAS-Bench-Macro networks (canonical strings) with weights "
                "inherited from a CPU-trained nbmacro supernet after BN recalibration "
                "(bench/nbmacro/cpu_experiment.sh; python -m bench.search.nas_surrogate --export)"
            ),
            "source": about,
            "networks": {code: round(acc, 4) for code, acc in sorted(networks.items())},
        },
        indent=1,
    )
    atomic_write_text(out, text + "\n")
    return networks


def features(codes: Sequence[str]) -> np.ndarray:
    """``(n, 24)`` one-hot digits of the canonical strings of ``codes``."""
    digits = np.asarray([[int(c) for c in canonical_code(code)] for code in codes])
    out = np.zeros((len(codes), digits.shape[1] * NBMACRO_DIGITS))
    rows = np.arange(len(codes))[:, None]
    out[rows, np.arange(digits.shape[1]) * NBMACRO_DIGITS + digits] = 1.0
    return out


def cross_validate(data: dict[str, float]) -> dict[str, dict[str, float]]:
    """Per regressor: Kendall tau and R^2 of out-of-fold predictions (5 folds, fixed split)."""
    codes = sorted(data)
    return cross_validate_features(features(codes), np.asarray([data[c] for c in codes]))


def cross_validate_features(
    x: np.ndarray,
    y: np.ndarray,
    regressors: dict[str, Callable[[], RegressorMixin]] = REGRESSORS,
) -> dict[str, dict[str, float]]:
    """Per regressor of ``regressors``: Kendall tau and R^2 of its out-of-fold predictions of
    ``y`` from ``x`` (:data:`CV_FOLDS` folds, one fixed shuffled split)."""
    out = {}
    for name, make in regressors.items():
        pred = np.zeros_like(y)
        for train, test in KFold(CV_FOLDS, shuffle=True, random_state=0).split(x):
            pred[test] = clone(make()).fit(x[train], y[train]).predict(x[test])
        r2 = 1.0 - float(((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum())
        out[name] = {"kendall_tau": float(kendalltau(y, pred)[0]), "r2": r2}
    return out


def choose_regressor(scores: dict[str, dict[str, float]]) -> str:
    """The candidate with the best cross-validated Kendall tau."""
    return max(scores, key=lambda name: scores[name]["kendall_tau"])


def surrogate_table(
    data: dict[str, float], flops: dict[str, int]
) -> tuple[dict[str, tuple[float, float]], str]:
    """Every string of ``flops`` -> (surrogate accuracy %, -MACs in millions), and the name of
    the chosen regressor (fitted on all of ``data``)."""
    name = choose_regressor(cross_validate(data))
    codes = sorted(data)
    model = REGRESSORS[name]().fit(features(codes), [data[c] for c in codes])
    strings = sorted(flops)
    accuracy = model.predict(features(strings))
    table = {s: (float(a), -flops[s] / 1e6) for s, a in zip(strings, accuracy)}
    return table, name


def surrogate_problem_parts(
    flops: dict[str, int],
) -> tuple[CategoricalCodec, Callable[[Sequence[tuple[int, ...]]], np.ndarray], list[float], float]:
    """Codec, evaluate, reference point and maximum hypervolume of the surrogate problem.

    Reference point: (lowest surrogate accuracy, largest MACs) over all strings; ``max_hv`` is
    the hypervolume of all of them.
    """
    table, _ = surrogate_table(read_inherited(fidelity_path()), flops)
    values = np.asarray(list(table.values()))
    ref = [float(values[:, 0].min()), float(values[:, 1].min())]

    def evaluate(archs: Sequence[tuple[int, ...]]) -> np.ndarray:
        return np.asarray([table["".join(map(str, a))] for a in archs], dtype=np.float64)

    codec = CategoricalCodec(num_choices=(NBMACRO_DIGITS,) * sum(STAGE_LAYERS))
    return codec, evaluate, ref, hypervolume(values, ref)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--export", type=Path, metavar="FIDELITY_JSON", help=f"write {INHERITED_DATA.name} from it"
    )
    args = parser.parse_args(argv)
    if args.export is not None:
        exported = export_inherited(args.export)
        print(f"wrote {len(exported)} networks to {INHERITED_DATA}")
    data = read_inherited(fidelity_path())
    scores = cross_validate(data)
    print(f"{len(data)} networks from {fidelity_path()}; {CV_FOLDS}-fold cross-validation:")
    print("| regressor | Kendall tau | R^2 |\n| --- | ---: | ---: |")
    for name, score in scores.items():
        print(f"| {name} | {score['kendall_tau']:.3f} | {score['r2']:.3f} |")
    print(f"chosen: {choose_regressor(scores)}")


if __name__ == "__main__":
    main()
