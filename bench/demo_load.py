"""``make demo`` on a quiet machine and beside a competing CPU load: how much a busy box costs.

Runs the main job (``nas-pipeline``, the digits demo with its default settings) once per
setting in a fresh run directory, while ``--busy`` busy-loop processes compete for the CPU,
and reports wall time, the busy/quiet ratio and the winner (which must not depend on the load:
same seed, same numbers). ``--repo`` runs another checkout (e.g. an older commit in a git
worktree) with this machine's environment, to compare before and after.

Example (shell)::

    python -m bench.demo_load --busy 0 2                       # this checkout
    git worktree add /tmp/before <commit>
    python -m bench.demo_load --busy 0 2 --repo /tmp/before --label before
    python -m bench.demo_load --busy 2 --set num_threads=null --label all-threads

Writes ``bench/results/demo_load.json`` (rows appended per label) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "demo_load.json"
WINNER = re.compile(r"winner: test top-1 ([\d.]+)%, ([\d,]+) MACs, ([\d,]+) params")


def busy_loops(count: int) -> list[subprocess.Popen[bytes]]:
    """``count`` processes spinning one core each (pure Python, no I/O)."""
    code = "while True:\n    pass\n"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(count)]


def run_demo(repo: Path, overrides: list[str], timeout_s: float | None) -> dict[str, Any]:
    """One ``nas-pipeline`` run of ``repo`` in a temporary run directory; a run stopped at
    ``timeout_s`` is reported as taking more than that (``timed_out``)."""
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "PYTHONPATH": str(repo)}
        env.pop("OMP_NUM_THREADS", None)  # the command's own thread setting decides
        cmd = [sys.executable, "-m", "lamoo_nas.commands.pipeline", f"run_dir={folder}/run",
               "progress=false", *overrides]  # fmt: skip
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=timeout_s
            )
        except subprocess.TimeoutExpired:
            return {"seconds": float(timeout_s or 0), "timed_out": True, "winner_top1_pct": None,
                    "winner_macs": None, "winner_params": None}  # fmt: skip
        seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"the demo failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}")
    found = WINNER.search(proc.stdout)
    if found is None:
        raise SystemExit(f"no winner line in the demo's output:\n{proc.stdout[-2000:]}")
    top1, macs, params = found.groups()
    return {
        "seconds": round(seconds, 1),
        "timed_out": False,
        "winner_top1_pct": float(top1),
        "winner_macs": int(macs.replace(",", "")),
        "winner_params": int(params.replace(",", "")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--busy", type=int, nargs="+", default=[0, 2],
                        help="busy-loop processes per run (0 = quiet)")  # fmt: skip
    parser.add_argument("--repo", type=Path, default=ROOT, help="checkout to run")
    parser.add_argument("--label", default="this checkout")
    parser.add_argument("--set", nargs="*", default=[], help="extra overrides, e.g. seed=1")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--timeout", type=float, default=None, help="seconds per run at most")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=args.repo,
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    rows = []
    for busy in args.busy:
        loops = busy_loops(busy)
        try:
            row = run_demo(args.repo, list(args.set), args.timeout)
        finally:
            for proc in loops:
                proc.kill()
                proc.wait()
        rows.append({"label": args.label, "commit": commit, "busy_loops": busy,
                     "overrides": list(args.set), "cpus": os.cpu_count(), **row})  # fmt: skip
        print(f"{args.label} busy={busy}: {row}", flush=True)
    previous = json.loads(args.out.read_text()) if args.out.is_file() else []
    kept = [r for r in previous if r.get("label") != args.label]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps([*kept, *rows], indent=1) + "\n")
    print(table([*kept, *rows]))


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one line per run, with its time relative to the same label's quiet run."""
    quiet = {r["label"]: r["seconds"] for r in rows if r["busy_loops"] == 0}
    lines = [
        "| label | commit | busy loops | overrides | wall (s) | vs quiet | winner top-1 | MACs |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        base = quiet.get(r["label"])
        more = ">" if r.get("timed_out") else ""
        ratio = f"{more}{r['seconds'] / base:.2f}x" if base else "-"
        winner = "-" if r["winner_top1_pct"] is None else f"{r['winner_top1_pct']:.2f} %"
        macs = "-" if r["winner_macs"] is None else f"{r['winner_macs']:,}"
        lines.append(
            f"| {r['label']} | {r['commit']} | {r['busy_loops']} | {' '.join(r['overrides'])} "
            f"| {more}{r['seconds']:.0f} | {ratio} | {winner} | {macs} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
