"""How much of a rank-fidelity shortfall is measurement noise? Reads ``fidelity.json`` reports.

    python -m bench.evaluate.fidelity_noise RUN/rank_sandwich/fidelity.json \\
        RUN/rank_sandwich_val10k/fidelity.json --images 2000 10000

For each report (scored on ``images`` validation images): the Kendall tau that binomial noise
alone leaves between the supernet's accuracies and their expectation (simulated from the
measured accuracies), and the tau among the networks above ``--top`` true accuracy; for a pair
of reports on the same architectures, the tau between their two scorings. Writes
``bench/results/fidelity_noise.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy import stats

RESULTS = Path(__file__).resolve().parents[1] / "results"


def _rows(path: Path) -> dict[str, tuple[float, float]]:
    report = json.loads(path.read_text())
    return {
        json.dumps(r["arch"], sort_keys=True): (r["inherited"], r["true"]) for r in report["rows"]
    }


def noise_ceiling(accuracy: np.ndarray, images: int, draws: int, seed: int = 0) -> float:
    """Mean tau between ``images``-image binomial draws around ``accuracy`` and ``accuracy``."""
    rng = np.random.default_rng(seed)
    taus = [stats.kendalltau(rng.binomial(images, accuracy) / images, accuracy).statistic
            for _ in range(draws)]  # fmt: skip
    return float(np.mean(taus))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", type=Path, nargs="+")
    parser.add_argument("--images", type=int, nargs="+", required=True)
    parser.add_argument("--top", type=float, default=0.89, help="true-accuracy threshold")
    parser.add_argument("--draws", type=int, default=200)
    args = parser.parse_args()
    if len(args.images) != len(args.reports):
        parser.error("give one --images count per report")
    rows = [_rows(p) for p in args.reports]
    out = []
    lines = ["| report | images | tau | noise-only tau | tau among top | n top |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for path, table, images in zip(args.reports, rows, args.images):
        inherited, true = (np.array(v) for v in zip(*table.values()))
        top = true > args.top
        entry = {
            "report": str(path),
            "images": images,
            "kendall_tau": float(stats.kendalltau(inherited, true).statistic),
            "noise_only_tau": noise_ceiling(inherited, images, args.draws),
            "top_tau": float(stats.kendalltau(inherited[top], true[top]).statistic),
            "num_top": int(top.sum()),
        }
        out.append(entry)
        cells = [str(path), str(images)] + [
            f"{entry[k]:.3f}" for k in ("kendall_tau", "noise_only_tau", "top_tau")
        ]
        lines.append("| " + " | ".join([*cells, str(entry["num_top"])]) + " |")
    payload: dict = {"reports": out}
    if len(rows) == 2:
        shared = sorted(set(rows[0]) & set(rows[1]))
        a = [rows[0][k][0] for k in shared]
        b = [rows[1][k][0] for k in shared]
        payload["tau_between_scorings"] = float(stats.kendalltau(a, b).statistic)
        lines.append(f"\nTau between the two scorings ({len(shared)} shared archs): "
                     f"{payload['tau_between_scorings']:.3f}")  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fidelity_noise.json").write_text(json.dumps(payload, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
