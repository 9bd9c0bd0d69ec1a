"""The benchmark's aggregation: samples-to-reach, sample-efficiency ratios, paired Wilcoxon tests
and seeds ahead per pair."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import wilcoxon

from bench.search.report import (
    curve_table,
    inner_baseline,
    overview_table,
    paired_test,
    samples_to_reach,
    summarise,
    write_table,
)


def _run(strategy: str, seed: int, hv: list[float]) -> dict:
    return {"problem": "p", "strategy": strategy, "seed": seed, "hv": hv,
            "ask_time_per_proposal_s": 0.01}  # fmt: skip


RUNS = [
    _run("random", 0, [1.0, 2.0, 3.0, 4.0]),
    _run("random", 1, [1.0, 1.0, 2.0, 2.0]),  # random's final mean: 3.0
    _run("lamoo-random", 0, [1.0, 3.0, 3.5, 3.9]),
    _run("lamoo-random", 1, [2.0, 3.0, 3.0, 3.0]),  # mean curve 1.5, 3.0, 3.25, 3.45
]


def test_curve_table_gives_the_seed_mean_after_each_sample_count() -> None:
    rows = curve_table(RUNS, [2, 4]).splitlines()[2:]
    assert rows == ["| p | random | 2 | 1.5 | 3 |", "| p | lamoo-random | 2 | 3 | 3.45 |"]


def test_samples_to_reach_is_the_first_crossing() -> None:
    curve = np.array([1.0, 2.0, 2.0, 5.0])
    assert samples_to_reach(curve, 2.0) == 2
    assert samples_to_reach(curve, 4.9) == 4
    assert samples_to_reach(curve, 5.1) is None


def test_ratio_seeds_ahead_and_p_value_per_pair(tmp_path) -> None:
    summary = summarise(RUNS, {"p": 10.0})["p"]
    pair = summary["pairs"]["lamoo-random vs random"]
    assert pair["ratio"] == 2 / 4  # 3.0 reached at sample 2
    assert (pair["ahead"], pair["behind"], pair["seeds"]) == (1, 1, 2)  # 3.9 < 4.0, 3.0 > 2.0
    assert pair["like_for_like"] and pair["verdict"] == "tie"
    assert pair["p_value"] == pytest.approx(wilcoxon([3.9 - 4.0, 3.0 - 2.0]).pvalue)
    row = summary["strategies"]["random"]
    assert row["final_hv_mean"] == 3.0 and row["num_seeds"] == 2
    assert np.isclose(row["final_log10_gap_mean"], np.mean(np.log10([6.0, 8.0])))
    table = write_table({"p": summary}, tmp_path / "t.md")
    p = f"{pair['p_value']:.3f}"
    assert f"| **lamoo-random vs random** | 0.50 | 1 / 1 / 0 | 0.45 | {p} | tie |" in table
    assert f"| p | 0.50 (1/2, p={p}) |" in table  # the overview row


def test_paired_test_is_scipys_wilcoxon_on_common_seeds() -> None:
    rng = np.random.default_rng(0)
    first = {s: float(v) for s, v in enumerate(rng.normal(1.0, 1.0, 9))}
    second = {s: float(v) for s, v in enumerate(rng.normal(0.0, 1.0, 7))}  # seeds 0..6 only
    out = paired_test(first, second)
    diff = [first[s] - second[s] for s in range(7)]
    assert out["seeds"] == 7 and out["ahead"] == sum(d > 0 for d in diff)
    assert out["p_value"] == pytest.approx(wilcoxon(diff).pvalue)
    assert out["median_difference"] == pytest.approx(np.median(diff))


def test_verdicts_need_significance() -> None:
    worse = paired_test({s: 0.0 for s in range(7)}, {s: 1.0 + s for s in range(7)})
    assert worse["behind"] == 7 and worse["p_value"] == pytest.approx(2 / 2**7)
    assert worse["verdict"] == "worse"
    five = paired_test({s: 2.0 for s in range(5)}, {s: 1.0 for s in range(5)})
    assert five["ahead"] == 5 and five["p_value"] == pytest.approx(2 / 2**5)
    assert five["verdict"] == "tie"  # 5 of 5 seeds ahead is not significant at 0.05
    same = paired_test({0: 1.0, 1: 2.0}, {0: 1.0, 1: 2.0})
    assert same["ties"] == 2 and same["p_value"] == 1.0 and same["verdict"] == "tie"
    assert paired_test({0: 1.0}, {1: 1.0})["p_value"] is None  # no common seed


def test_inner_baselines_and_the_overview_keeps_like_for_like_pairs_only() -> None:
    assert [inner_baseline(n) for n in ("lamoo-random", "lamoo-evolution", "lamoo-qehvi")] == [
        "random",
        "nsga2",
        "qehvi",
    ]
    assert inner_baseline("lamoo-qehvi-local") == "qehvi"
    assert inner_baseline("lamoo-qehvi-pool") == "qehvi-pool"
    runs = [*RUNS, _run("nsga2", 0, [1.0] * 4), _run("nsga2", 1, [1.0] * 4)]
    table = overview_table(summarise(runs, {"p": 10.0}))
    assert "lamoo-random vs random" in table and "vs nsga2" not in table


def test_noise_ceiling_falls_with_fewer_images() -> None:
    import numpy as np

    from bench.evaluate.fidelity_noise import noise_ceiling

    accuracy = np.linspace(0.40, 0.55, 60)
    few, many = noise_ceiling(accuracy, 500, 50), noise_ceiling(accuracy, 50_000, 50)
    assert few < many < 1.0 and many > 0.9
