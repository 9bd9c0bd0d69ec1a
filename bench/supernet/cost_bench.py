"""Analytic cost model vs fvcore tracing: speed, plus MACs/params of each preset's extremes.

Run: ``python -m bench.supernet.cost_bench``. Writes ``bench/results/cost.json`` and prints a
markdown table. Speed: microseconds per ``count_cost`` call (no arch-level cache; its
per-block formulas are memoised), per cached ``CostModel`` call, and per fvcore
``FlopCountAnalysis`` of the same extracted subnet (including building it).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch
from fvcore.nn import FlopCountAnalysis

from lamoo_nas.supernet import (
    ArchConfig,
    CostModel,
    SearchSpace,
    build_static,
    count_cost,
    load_space,
)

PRESETS = {"tiny": 10, "cifar": 10, "ofa_mbv3": 1000}
RESULTS = Path(__file__).resolve().parents[1] / "results" / "cost.json"


def _no_count(inputs: object, outputs: object) -> Counter[str]:
    return Counter()


def fvcore_macs(space: SearchSpace, arch: ArchConfig, num_classes: int) -> int:
    """fvcore MACs (conv + linear only) of a freshly built static subnet."""
    net = build_static(space, arch, num_classes).eval()
    x = torch.zeros(1, 3, arch.resolution, arch.resolution)
    analysis = FlopCountAnalysis(net, x)
    analysis.set_op_handle("aten::batch_norm", _no_count, "aten::adaptive_avg_pool2d", _no_count)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return int(analysis.total())


def per_call_us(fn: Any, items: list[ArchConfig], repeats: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        for item in items:
            fn(item)
    return 1e6 * (time.perf_counter() - start) / (repeats * len(items))


def bench_space(name: str, num_classes: int, num_archs: int = 200, num_traced: int = 5) -> dict:
    space = load_space(name)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(num_archs)]
    analytic_us = per_call_us(lambda a: count_cost(space, a, num_classes), archs, repeats=5)
    model = CostModel(space, num_classes)
    for arch in archs:
        model(arch)
    cached_us = per_call_us(model, archs, repeats=20)
    traced = archs[:num_traced]
    fvcore_us = per_call_us(lambda a: fvcore_macs(space, a, num_classes), traced)
    assert all(fvcore_macs(space, a, num_classes) == model(a).macs for a in traced[:2])
    smallest, largest = model.smallest(), model.largest()
    return {
        "space": name,
        "num_classes": num_classes,
        "analytic_us": analytic_us,
        "cached_us": cached_us,
        "fvcore_us": fvcore_us,
        "speedup": fvcore_us / analytic_us,
        "min": {"resolution": space.smallest().resolution, **vars(smallest)},
        "max": {"resolution": space.largest().resolution, **vars(largest)},
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| space | count_cost us | cached us | fvcore us | speedup | min MACs (M) | min params (M)"
        " | max MACs (M) | max params (M) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['space']} | {r['analytic_us']:.1f} | {r['cached_us']:.2f} | "
            f"{r['fvcore_us']:.0f} | {r['speedup']:.0f}x | {r['min']['macs'] / 1e6:.2f} "
            f"(r{r['min']['resolution']}) | {r['min']['params'] / 1e6:.3f} | "
            f"{r['max']['macs'] / 1e6:.2f} (r{r['max']['resolution']}) | "
            f"{r['max']['params'] / 1e6:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    rows = [bench_space(name, num_classes) for name, num_classes in PRESETS.items()]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    print(table(rows))
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
