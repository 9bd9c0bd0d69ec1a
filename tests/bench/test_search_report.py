"""The benchmark's aggregation: samples-to-reach, sample-efficiency ratios, paired seed wins."""

from __future__ import annotations

import numpy as np

from bench.search.report import paired_wins, samples_to_reach, summarise, write_table


def _run(strategy: str, seed: int, hv: list[float]) -> dict:
    return {"problem": "p", "strategy": strategy, "seed": seed, "hv": hv,
            "ask_time_per_proposal_s": 0.01}  # fmt: skip


RUNS = [
    _run("random", 0, [1.0, 2.0, 3.0, 4.0]),
    _run("random", 1, [1.0, 1.0, 2.0, 2.0]),  # random's final mean: 3.0
    _run("lamoo-random", 0, [1.0, 3.0, 3.5, 3.9]),
    _run("lamoo-random", 1, [2.0, 3.0, 3.0, 3.0]),  # mean curve 1.5, 3.0, 3.25, 3.45
]


def test_samples_to_reach_is_the_first_crossing() -> None:
    curve = np.array([1.0, 2.0, 2.0, 5.0])
    assert samples_to_reach(curve, 2.0) == 2
    assert samples_to_reach(curve, 4.9) == 4
    assert samples_to_reach(curve, 5.1) is None


def test_ratio_and_paired_wins(tmp_path) -> None:
    summary = summarise(RUNS, {"p": 10.0})["p"]
    assert summary["ratios"] == {"lamoo-random vs random": 2 / 4}  # 3.0 reached at sample 2
    assert summary["seed_wins"] == {"lamoo-random vs random": [1, 2]}  # 3.9 < 4.0, 3.0 > 2.0
    row = summary["strategies"]["random"]
    assert row["final_hv_mean"] == 3.0 and row["num_seeds"] == 2
    assert np.isclose(row["final_log10_gap_mean"], np.mean(np.log10([6.0, 8.0])))
    table = write_table({"p": summary}, tmp_path / "t.md")
    assert "| lamoo-random vs random | 0.50 | 1/2 |" in table


def test_paired_wins_use_only_common_seeds() -> None:
    runs = [*RUNS, _run("lamoo-random", 5, [9.0, 9.0, 9.0, 9.0])]
    assert paired_wins(runs, "p", "lamoo-random", "random") == [1, 2]


def test_noise_ceiling_falls_with_fewer_images() -> None:
    import numpy as np

    from bench.evaluate.fidelity_noise import noise_ceiling

    accuracy = np.linspace(0.40, 0.55, 60)
    few, many = noise_ceiling(accuracy, 500, 50), noise_ceiling(accuracy, 50_000, 50)
    assert few < many < 1.0 and many > 0.9
