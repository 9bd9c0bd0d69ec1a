"""How long the exact programme takes per budget, on every preset space (target: <= 1 s on
``ofa_mbv3``, about 10^19 architectures).

A block model is fitted on 200 random architectures with synthetic additive accuracies (the
solve time does not depend on the values), the cost tables are built once (timed apart), then
the best architecture is solved under 10 MACs budgets spread between the smallest and the
largest architecture, and the 5 best under the middle one. Each solution is checked against
the exact cost model. Writes ``bench/results/programme_speed.json`` and prints a table.

    python -m bench.search.programme_speed
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from lamoo_nas.evaluate.blocks import SpaceBlocks
from lamoo_nas.search.blockmodel import fit_block_model
from lamoo_nas.supernet import CostModel, load_space

RESULTS = Path(__file__).resolve().parents[1] / "results"
SPACES = ("nbmacro", "tiny", "cifar", "ofa_mbv3")


def measure(name: str) -> dict[str, float]:
    space = load_space(name)
    cost = CostModel(space, num_classes=1000 if name.startswith("ofa") else 10)
    blocks = SpaceBlocks(space, [lambda a: float(cost(a).macs), lambda a: float(cost(a).params)])
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(200)]
    choices = blocks.choices(archs)
    weights = [rng.normal(size=len(d.values)) for d in blocks.decisions]
    accuracy = sum(w[choices[:, i]] for i, w in enumerate(weights))
    model = fit_block_model(blocks.decisions, choices, accuracy, blocks.fingerprint)
    start = time.perf_counter()
    for outer in blocks.outers():
        blocks.problem(model, outer)
    tables_s = time.perf_counter() - start
    lo, hi = cost.smallest().macs, cost.largest().macs
    times = []
    for budget in np.linspace(lo, hi, 12)[1:-1]:
        start = time.perf_counter()
        found = blocks.solve(model, [float(budget), None], k=1)
        times.append(time.perf_counter() - start)
        assert cost(found[0].arch).macs <= budget
    start = time.perf_counter()
    blocks.solve(model, [float((lo + hi) / 2), None], k=5)
    k5_s = time.perf_counter() - start
    return {
        "space": name,
        "outer_choices": len(blocks.outers()),
        "decisions": len(blocks.decisions),
        "tables_s": tables_s,
        "per_budget_s_median": float(np.median(times)),
        "per_budget_s_max": float(np.max(times)),
        "k5_s": k5_s,
    }


def main() -> None:
    torch.set_num_threads(1)
    rows = [measure(name) for name in SPACES]
    lines = [
        "| space | outer choices | decisions | tables (s, once) | per budget (s, median / max) "
        "| 5 best (s) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['space']} | {r['outer_choices']} | {r['decisions']} | {r['tables_s']:.2f} | "
            f"{r['per_budget_s_median']:.3f} / {r['per_budget_s_max']:.3f} | {r['k5_s']:.2f} |"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "programme_speed.json").write_text(json.dumps(rows, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
