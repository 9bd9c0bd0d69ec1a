"""Rank fidelity: correlations against known orderings, errors, plot and pairs files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lamoo_nas.evaluate.rank import RankInputError, plot_rank_scatter, rank_fidelity, read_pairs


def test_same_order_is_one_and_reversed_is_minus_one() -> None:
    same = rank_fidelity([0.1, 0.5, 0.3, 0.9], [0.6, 0.8, 0.7, 0.95])
    assert same.kendall_tau == pytest.approx(1.0) and same.spearman == pytest.approx(1.0)
    assert same.n == 4
    flipped = rank_fidelity([0.1, 0.5, 0.3, 0.9], [0.95, 0.7, 0.8, 0.6])
    assert flipped.kendall_tau == pytest.approx(-1.0) and flipped.spearman == pytest.approx(-1.0)


def test_partial_agreement_matches_hand_count() -> None:
    # pairs: 3 concordant, 3 discordant of 6 -> tau = 0
    report = rank_fidelity([1, 2, 3, 4], [2, 4, 1, 3])
    assert report.kendall_tau == pytest.approx(0.0)
    assert 0.0 <= report.kendall_p <= 1.0 and 0.0 <= report.spearman_p <= 1.0


@pytest.mark.parametrize(
    ("inherited", "retrained", "match"),
    [([0.1], [0.2], "at least 2"), ([0.1, 0.2], [0.1], "give one pair"),
     ([0.5, 0.5, 0.5], [0.1, 0.2, 0.3], "equal"), ([0.1, float("nan")], [0.1, 0.2], "NaN")],
)  # fmt: skip
def test_bad_inputs_raise(inherited, retrained, match: str) -> None:
    with pytest.raises(RankInputError, match=match):
        rank_fidelity(inherited, retrained)


def test_scatter_png_is_written(tmp_path: Path) -> None:
    path = plot_rank_scatter([0.1, 0.4, 0.3], [0.5, 0.9, 0.7], tmp_path / "sub" / "rank.png",
                             labels=["a", "b", "c"])  # fmt: skip
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pairs_files_csv_and_json(tmp_path: Path) -> None:
    csv_path = tmp_path / "pairs.csv"
    csv_path.write_text("arch,inherited,retrained\nx,0.5,0.9\ny,0.6,0.95\n")
    assert read_pairs(csv_path) == ([0.5, 0.6], [0.9, 0.95], ["x", "y"])
    json_path = tmp_path / "pairs.json"
    json_path.write_text(json.dumps({"pairs": [{"inherited": 1, "retrained": 2}]}))
    assert read_pairs(json_path)[:2] == ([1.0], [2.0])
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(RankInputError, match="inherited"):
        read_pairs(bad)


def test_pairs_of_a_pipeline_run(tmp_path) -> None:
    import json

    from lamoo_nas.evaluate.rank import pairs_csv, read_pairs, run_pairs

    rows = [{"rank": i + 1, "inherited_val_accuracy": a, "test_top1": b}
            for i, (a, b) in enumerate([(0.9, 0.95), (0.8, 0.97), (0.7, 0.91)])]  # fmt: skip
    (tmp_path / "pipeline.json").write_text(json.dumps({"retrained": rows}))
    inherited, retrained, labels = run_pairs(tmp_path)
    assert (inherited, retrained, labels) == ([0.9, 0.8, 0.7], [0.95, 0.97, 0.91],
                                              ["rank1", "rank2", "rank3"])  # fmt: skip
    (tmp_path / "pairs.csv").write_text(pairs_csv(inherited, retrained, labels))
    assert read_pairs(tmp_path / "pairs.csv") == (inherited, retrained, labels)
    search = tmp_path / "search"
    search.mkdir()
    (search / "history.json").write_text("{}")
    with pytest.raises(RankInputError, match="is a search run: rank pairs need retrained"):
        run_pairs(search)
    (tmp_path / "pipeline.json").write_text(json.dumps({"retrained": [{"rank": 1}]}))
    with pytest.raises(RankInputError, match="malformed retrained rows"):
        run_pairs(tmp_path)
