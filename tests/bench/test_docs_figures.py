"""The docs' rank-fidelity picture is rebuilt from shipped data, and the figures the README and
the benchmarks page quote are the ones it computes."""

from __future__ import annotations

from pathlib import Path

from bench.docs_figures import rank_fidelity_figure
from tests.nbmacro_table import nbmacro_table_path

REPO = Path(__file__).resolve().parents[2]


def test_rank_fidelity_figure_matches_what_the_docs_quote(tmp_path) -> None:
    metrics = rank_fidelity_figure(nbmacro_table_path(), tmp_path)
    assert (tmp_path / "rank_fidelity_nbmacro.png").stat().st_size > 10_000
    quoted = f"**{metrics['kendall_tau']:.3f}**", f"**{metrics['binned_tau']:.3f}**"
    readme = (REPO / "README.md").read_text()
    assert all(text in readme for text in quoted)
    page = (REPO / "docs" / "benchmarks" / "ground-truth.md").read_text()
    assert f"tau {metrics['kendall_tau']:.3f}, {metrics['binned_tau']:.3f} within" in page
    assert (REPO / "docs" / "images" / "rank_fidelity_nbmacro.png").is_file()
