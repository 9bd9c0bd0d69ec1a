"""Digests of what a search writes and of the cost and latency oracles, to compare checkouts.

    python -m bench.evaluate.search_outputs_digest [--out bench/results/search_outputs.json]

Complements :mod:`bench.behaviour_fingerprint` (proposals through ``make_strategy``, and a
short train/search/retrain): here each case runs :func:`evaluate.supernet_search.run_nas_search`
on the ``tiny`` space (20 samples, batches of 5, seed 3) with a fixed synthetic accuracy (a
function of the architecture's encoding, no training), so the settings adapter, the reference
point, the known-cost columns, ``history.csv`` (time columns dropped) and ``results.csv`` are
all covered, for the latency objective and budget too (a linear stand-in predictor). Then, on
four spaces, the predictions of a latency table with fixed synthetic entries over 300 random
architectures, its fastest architecture and fitted correction, and the exact MACs/params of
the same architectures. Last, per preset space, the state dict of a supernet built after
``torch.manual_seed(0)``: its keys in order with their shapes, and its values (a checkpoint's
layout and the seeded initialisation). Writes the digests as JSON and prints them; equal
files, equal behaviour.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lamoo_nas.commands.settings import settings_from_plain
from lamoo_nas.evaluate.evaluator import CachedAccuracy
from lamoo_nas.evaluate.latency_keys import all_latency_keys
from lamoo_nas.evaluate.latency_table import LatencyPredictor, LatencyTable
from lamoo_nas.evaluate.supernet_search import run_nas_search
from lamoo_nas.supernet import (
    ArchConfig,
    CostModel,
    SearchSpace,
    Supernet,
    available_spaces,
    count_cost,
    load_space,
)

RESULTS = Path(__file__).resolve().parents[1] / "results"
SMALL_QEHVI = {"pool_size": 64, "mc_samples": 16, "fit_maxiter": 20, "num_restarts": 2,
               "raw_samples": 32, "maxiter": 20}  # fmt: skip
CASES: dict[str, tuple[dict[str, Any], list[str], dict[str, float]]] = {
    "random": ({"name": "random"}, ["accuracy", "macs"], {"macs": 2e6}),
    "nsga2": ({"name": "nsga2", "nsga2": {"population_size": 8}}, ["accuracy", "macs"],
              {"macs": 2e6}),
    "lamoo": ({"name": "lamoo", "lamoo": {"tree": {"split_min": 4}}}, ["accuracy", "macs"],
              {"macs": 2e6}),
    "lamoo-evolution": ({"name": "lamoo-evolution"}, ["accuracy", "params", "macs"],
                        {"params": 60e3}),
    "qehvi": ({"name": "qehvi", "qehvi": SMALL_QEHVI}, ["accuracy", "macs"], {"macs": 2e6}),
    "mathnas": ({"name": "mathnas"}, ["accuracy", "macs"], {"macs": 2e6}),
    "cmaes": ({"name": "cmaes", "cmaes": {"sigma0": 0.3}}, ["accuracy", "macs"], {}),
    "pymoo-nsga2": ({"name": "pymoo-nsga2"}, ["accuracy", "macs"], {"macs": 2e6}),
    "random-latency": ({"name": "random"}, ["accuracy", "latency"], {}),
    "lamoo-latency-budget": ({"name": "lamoo"}, ["accuracy", "macs"], {"latency_ms": 1.5}),
}  # fmt: skip
"""Case -> (the ``strategy`` config section, objectives, budget)."""


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class SyntheticAccuracy(CachedAccuracy):
    """A fixed accuracy in (0.1, 0.9) per architecture: a smooth function of its encoding."""

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        self.space = space

    def identity(self) -> dict[str, Any]:
        return {"synthetic": "0.5 + 0.4 mean(sin(3 x))"}

    def _score_new(self, archs: list[ArchConfig]) -> None:
        for arch in archs:
            self._record(arch, float(0.5 + 0.4 * np.sin(3.0 * self.space.encode(arch)).mean()), 0)


def _without_times(history_csv: str) -> str:
    rows = list(csv.reader(io.StringIO(history_csv)))
    keep = [i for i, name in enumerate(rows[0]) if not name.endswith("_time_s")]
    return "\n".join(",".join(row[i] for i in keep) for row in rows)


def search_digests() -> dict[str, dict[str, Any]]:
    space = load_space("tiny")
    cost_model = CostModel(space, num_classes=10)

    def latency(arch: ArchConfig) -> float:
        return 0.2 + cost_model(arch).macs / 1e6

    out = {}
    for name, (strategy, objectives, budget) in CASES.items():
        plain = {"strategy": strategy, "objectives": objectives, "budget": budget,
                 "num_samples": 20, "batch_size": 5, "num_init": 5, "seed": 3,
                 "progress": False}  # fmt: skip
        with tempfile.TemporaryDirectory() as folder:
            run_dir = Path(folder)
            settings = settings_from_plain(plain)
            run_nas_search(space, cost_model, SyntheticAccuracy(space), settings, run_dir, latency)
            history = json.loads((run_dir / "history.json").read_text())
            evaluations = history["evaluations"]
            summary = json.loads((run_dir / "summary.json").read_text())
            out[name] = {
                "proposals": _digest("\n".join(json.dumps(e["arch"]) for e in evaluations)),
                "objectives": _digest(json.dumps([e["objectives"] for e in evaluations])),
                "history.csv": _digest(_without_times((run_dir / "history.csv").read_text())),
                "results.csv": _digest((run_dir / "results.csv").read_text()),
                "ref_point": summary["ref_point"],
                "hypervolume": summary["hypervolume"],
            }
        print(name, json.dumps(out[name]), flush=True)
    return out


def oracle_digests() -> dict[str, dict[str, Any]]:
    out = {}
    for name in ("tiny", "cifar", "ofa_mbv3", "nbmacro"):
        space = load_space(name)
        keys = all_latency_keys(space)
        entries = {k: 0.01 + int(_digest(k.id)[:6], 16) / 2**24 for k in keys}
        header = {"space": space.name, "space_fingerprint": space.fingerprint, "num_classes": 10}
        predictor = LatencyPredictor(space, 10, LatencyTable(Path("synthetic"), header, entries))
        rng = np.random.default_rng(0)
        archs = [space.sample(rng) for _ in range(300)] + [space.smallest(), space.largest()]
        fastest, fastest_ms = predictor.fastest()
        measured = [(a, 1.3 * predictor.predict_ms(a) + 0.1 + 0.01 * i)
                    for i, a in enumerate(archs[:10])]  # fmt: skip
        fitted = predictor.fit_correction(measured)
        costs = [count_cost(space, a, 10) for a in archs]
        out[name] = {
            "keys": _digest("".join(k.id for k in keys)),
            "predicted_ms": _digest(json.dumps([predictor.predict_ms(a) for a in archs])),
            "fastest": [str(fastest), fastest_ms],
            "correction": [fitted.scale, fitted.offset],
            "macs_params": _digest(json.dumps([[c.macs, c.params] for c in costs])),
        }
        print(name, json.dumps(out[name]), flush=True)
    return out


def supernet_digests() -> dict[str, dict[str, str]]:
    out = {}
    for name in available_spaces():
        torch.manual_seed(0)
        state = Supernet(load_space(name), 10).state_dict()
        layout = "\n".join(f"{key}:{tuple(value.shape)}" for key, value in state.items())
        values = hashlib.sha256(b"".join(v.cpu().numpy().tobytes() for v in state.values()))
        out[name] = {"keys": _digest(layout), "values": values.hexdigest()[:16]}
        print(name, json.dumps(out[name]), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS / "search_outputs.json")
    args = parser.parse_args()
    result = {"search": search_digests(), "oracles": oracle_digests(),
              "supernets": supernet_digests()}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
