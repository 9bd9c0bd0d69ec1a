"""Does the per-block latency table predict whole-network CPU latency, and rank like it?

    python -m bench.evaluate.latency_bench [--spaces tiny cifar ofa_mbv3]
        [--ofa-resolutions 128 160 192 224] [--nets 50]

Per space (``ofa_mbv3`` at a reduced resolution set: its table covers only those), with torch,
1 thread, batch 1: build the latency table (A), time ``--nets`` static subnets end to end with
:func:`evaluate.latency.measure_latency_ms` (pass 1), build the table again (B), time the nets
again (pass 2). The nets are drawn with a fixed seed from 2,000 random architectures, an equal
share from each MACs decile. The machine is shared and its speed drifts over fractions of a
second, so every number is a median over time-interleaved rounds: each table key is measured
in ``TABLE_PROTOCOL`` rounds (a pass over all keys per round; entry = median of the round
medians), each net in ``NET_PROTOCOL`` rounds per pass (the nets in a fresh random order each
round); a net's reference latency is the median over the rounds of both passes. Reports the
mean absolute percentage error of table A's prediction, Kendall tau of predicted vs measured
and of MACs vs measured, tau between the two passes (the noise ceiling of any predictor), the
error after a linear correction fitted on one net per decile (scored on the other nets), and
how stable entries are: the median (p90) relative difference between A and B, between two
rounds of A (what a single pass would give), and the median ratio B/A (uniform drift).
Writes ``bench/results/latency_bench.json`` and
prints a Markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats

from lamoo_nas.evaluate.latency import measure_latency_ms
from lamoo_nas.evaluate.latency_table import LatencyPredictor, build_latency_table
from lamoo_nas.supernet import CostModel, build_static, load_space
from lamoo_nas.supernet.space import ArchConfig, SearchSpace

RESULTS = Path(__file__).resolve().parents[1] / "results"
NUM_CLASSES = 10
TABLE_PROTOCOL = {"tiny": (3, 10, 5), "cifar": (3, 10, 5), "ofa_mbv3": (2, 5, 5)}
"""Per space: the table's warmup, repeats and rounds per key."""
NET_PROTOCOL = {"tiny": (8, 5), "cifar": (8, 5), "ofa_mbv3": (5, 3)}
"""Per space: end-to-end rounds per pass and timed runs per net and round (after 3 warm-up
runs)."""


def stratified_archs(
    space: SearchSpace, cost: CostModel, num: int, rng: np.random.Generator, pool: int = 2000
) -> list[ArchConfig]:
    """``num`` distinct architectures, an equal share from each MACs decile of a random pool."""
    archs = sorted({space.sample(rng) for _ in range(pool)}, key=lambda a: (cost(a).macs, str(a)))
    picked: list[ArchConfig] = []
    for i, group in enumerate(np.array_split(np.arange(len(archs)), 10)):
        share = num // 10 + (i < num % 10)
        picked.extend(archs[j] for j in rng.choice(group, size=share, replace=False))
    return picked


def measure_nets(
    space: SearchSpace, archs: list[ArchConfig], rounds: int, repeats: int, seed: int
) -> np.ndarray:
    """``(rounds, nets)``: each net's median over ``repeats`` runs, the nets in a fresh random
    order each round."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    nets = [build_static(space, a, NUM_CLASSES).eval() for a in archs]
    per_round = np.empty((rounds, len(nets)))
    for r in range(rounds):
        for i in rng.permutation(len(nets)):
            shape = (1, 3, archs[i].resolution, archs[i].resolution)
            per_round[r, i] = measure_latency_ms(nets[i], shape, "cpu", 3, repeats).median_ms
    return per_round


def mape(predicted: np.ndarray, measured: np.ndarray) -> float:
    return float(np.mean(np.abs(predicted - measured) / measured))


def bench_space(space: SearchSpace, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    warmup, repeats, rounds = TABLE_PROTOCOL[space.name]
    net_rounds, net_repeats = NET_PROTOCOL[space.name]
    tables, build_s = [], []
    cost = CostModel(space, NUM_CLASSES)
    archs = stratified_archs(space, cost, args.nets, np.random.default_rng(args.seed))
    passes, measure_s = [], []
    for build in range(2):  # table, nets, table, nets
        start = time.perf_counter()
        tables.append(build_latency_table(
            space, NUM_CLASSES, folder / f"{space.name}_{build}.jsonl", warmup=warmup,
            repeats=repeats, rounds=rounds, num_threads=1, progress=False))  # fmt: skip
        build_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        passes.append(measure_nets(space, archs, net_rounds, net_repeats, args.seed + build))
        measure_s.append(time.perf_counter() - start)
    pass_ms = [np.median(p, axis=0) for p in passes]
    meas = np.median(np.concatenate(passes), axis=0)  # the reference: all rounds of both passes
    measured = [float(v) for v in meas]
    predictor = LatencyPredictor(space, NUM_CLASSES, tables[0])
    predicted = np.array([predictor.predict_ms(a) for a in archs])
    second = np.array([LatencyPredictor(space, NUM_CLASSES, tables[1]).predict_ms(a)
                       for a in archs])  # fmt: skip
    macs = np.array([cost(a).macs for a in archs])
    per_decile = len(archs) // 10
    fit_idx = np.arange(0, per_decile * 10, per_decile)  # one per decile (they come in order)
    held = np.setdiff1d(np.arange(len(archs)), fit_idx)
    corrected = predictor.fit_correction([(archs[i], measured[i]) for i in fit_idx])
    corr_pred = np.array([corrected.predict_ms(archs[i]) for i in held])
    a, b = (np.array([tables[k].latency_ms[key] for key in tables[0].latency_ms]) for k in (0, 1))
    r0, r1 = (np.array([ms[r] for ms in tables[0].rounds_ms.values()]) for r in (0, 1))
    fastest_arch, fastest_ms = predictor.fastest()
    return {
        "space": space.name,
        "resolutions": list(space.resolutions),
        "keys": len(tables[0]),
        "nets": len(archs),
        "table_warmup": warmup,
        "table_repeats": repeats,
        "table_rounds": rounds,
        "net_rounds": net_rounds,
        "net_repeats": net_repeats,
        "table_build_s": [round(s, 1) for s in build_s],
        "end_to_end_s": [round(s, 1) for s in measure_s],
        "measured_ms_range": [round(float(meas.min()), 3), round(float(meas.max()), 3)],
        "mape": mape(predicted, meas),
        "kendall_tau_pred": float(stats.kendalltau(predicted, meas).statistic),
        "kendall_tau_macs": float(stats.kendalltau(macs, meas).statistic),
        "mape_second_table": mape(second, meas),
        "kendall_tau_pred_second_table": float(stats.kendalltau(second, meas).statistic),
        "kendall_tau_pred_first_vs_second_table": float(
            stats.kendalltau(predicted, second).statistic
        ),
        "kendall_tau_pass_vs_pass": float(stats.kendalltau(*pass_ms).statistic),
        "mape_pass_vs_pass": mape(pass_ms[1], pass_ms[0]),
        "correction": {
            "scale": corrected.scale,
            "offset_ms": corrected.offset,
            "fit_on": len(fit_idx),
            "scored_on": len(held),
        },
        "mape_corrected_held_out": mape(corr_pred, meas[held]),
        "entry_median_rel_diff": float(np.median(np.abs(a - b) / ((a + b) / 2))),
        "entry_p90_rel_diff": float(np.percentile(np.abs(a - b) / ((a + b) / 2), 90)),
        "round_median_rel_diff": float(np.median(np.abs(r0 - r1) / ((r0 + r1) / 2))),
        "entry_ratio_second_over_first": float(np.median(b / a)),
        "entry_median_rel_diff_rescaled": float(np.median(np.abs(b / np.median(b / a) - a) / a)),
        "fastest_predicted_ms": fastest_ms,
        "fastest_arch": str(fastest_arch),
        "smallest_predicted_ms": predictor.predict_ms(space.smallest()),
        "rows": [
            {"arch": str(x), "macs": int(m), "predicted_ms": float(p), "measured_ms": v}
            for x, m, p, v in zip(archs, macs, predicted, measured)
        ],
    }


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "| space | keys | nets | measured ms | MAPE | tau(pred) | tau(MACs) | tau(pass, pass) "
        "| MAPE corrected (held out) | entry rel. diff, median / p90 (one round) | B/A | "
        "table build s |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |",
    ]
    for r in results:
        lo, hi = r["measured_ms_range"]
        lines.append(
            f"| {r['space']} ({len(r['resolutions'])} res.) | {r['keys']} | {r['nets']} | "
            f"{lo:.2f}-{hi:.2f} | {r['mape']:.1%} | {r['kendall_tau_pred']:.3f} | "
            f"{r['kendall_tau_macs']:.3f} | {r['kendall_tau_pass_vs_pass']:.3f} | "
            f"{r['mape_corrected_held_out']:.1%} | "
            f"{r['entry_median_rel_diff']:.1%} / {r['entry_p90_rel_diff']:.1%} "
            f"({r['round_median_rel_diff']:.1%}) | {r['entry_ratio_second_over_first']:.2f} | "
            f"{' + '.join(str(s) for s in r['table_build_s'])} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spaces", nargs="+", default=["tiny", "cifar", "ofa_mbv3"])
    parser.add_argument("--ofa-resolutions", type=int, nargs="+", default=[128, 160, 192, 224])
    parser.add_argument("--nets", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "latency_bench.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.spaces:
            space = load_space(name)
            if name == "ofa_mbv3":
                space = dataclasses.replace(space, resolutions=tuple(args.ofa_resolutions))
            results.append(bench_space(space, args, Path(tmp)))
            print(markdown(results[-1:]), flush=True)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    report = {"settings": settings, "torch": torch.__version__, "num_threads": 1,
              "results": results}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(markdown(results))
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
