from __future__ import annotations

from bench.search.hub_nbmacro import markdown, run, tier_quantiles
from tests.nbmacro_table import nbmacro_table_path


def test_tier_quantiles_are_evenly_spaced_inside_the_range() -> None:
    assert tier_quantiles(5) == [0.1, 0.3, 0.5, 0.7, 0.9]
    assert tier_quantiles(1) == [0.5]


def test_each_tier_pick_is_judged_against_the_tables_best_under_it() -> None:
    results = run(nbmacro_table_path(), 2)
    assert len(results["tiers"]) == 2 and results["num_inherited"] == 100
    within = [t["networks_within"] for t in results["tiers"]]
    assert within == sorted(within) and within[0] > 0
    for tier in results["tiers"]:
        for pick in (tier["model"], tier["measured"]):
            assert pick["macs"] <= tier["budget_macs"]
            assert 1 <= pick["true_rank"] <= tier["networks_within"]
            assert pick["true_accuracy"] <= tier["table_best_accuracy"]
            best = pick["true_accuracy"] == tier["table_best_accuracy"]
            assert (pick["true_rank"] == 1) == best
    assert markdown(results).count("\n") == 3
