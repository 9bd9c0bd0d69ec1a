"""Fingerprints of the project's behaviour, for refactors that must change none of it.

Prints (and writes to ``--out``, JSON) digests of:

* the first architectures each search strategy asks for on the ``tiny`` space (seed 0, a fixed
  synthetic accuracy: a digest of the architecture's JSON, so no training is involved), through
  the library API (``make_strategy`` + ``ArchCodec``);
* a short run of the commands on the digits data, each started through the console-script
  function that ``pyproject.toml`` names (so the entry points are exercised wherever they live):
  ``nas-train-supernet`` (weights of ``final.pt``), ``nas-search`` (the evaluated architectures
  and their objectives, and ``best_arch.json``), ``nas-retrain`` (weights of the retrained network).

Compare two checkouts by running it from each root and diffing the outputs:
    python -m bench.behaviour_fingerprint --out /tmp/before.json   # one checkout
    python -m bench.behaviour_fingerprint --out /tmp/after.json    # the other
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
STRATEGIES = ("random", "nsga2", "lamoo", "lamoo-evolution", "lamoo-blockmodel", "lamoo-cmaes",
              "lamoo-trust", "cmaes", "pymoo-nsga2", "mathnas", "qehvi")  # fmt: skip


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def proposals(num: int = 20) -> dict[str, str]:
    """Digest of the first ``num`` asked architectures per strategy (told in batches of 5)."""
    from lamoo_nas.evaluate.codec import ArchCodec, Budget
    from lamoo_nas.search import make_strategy
    from lamoo_nas.supernet import CostModel
    from lamoo_nas.supernet.space import load_space

    space = load_space("tiny")
    cost = CostModel(space, 10)
    budget = float(np.median([cost(space.sample(np.random.default_rng(i))).macs
                              for i in range(20)]))  # fmt: skip
    out = {}
    for name in STRATEGIES:
        codec = ArchCodec(space, cost, Budget(macs=budget))
        strategy = make_strategy(name, codec, [0.0, -budget / 1e6], 2, seed=0, num_init=10)
        asked: list[str] = []
        while len(asked) < num:
            batch = strategy.ask(5)
            rows = [json.dumps(space.arch_to_json(a), sort_keys=True) for a in batch]
            acc = [int(_digest(r.encode()), 16) / 2**64 for r in rows]
            y = np.column_stack([acc, [-cost(a).macs / 1e6 for a in batch]])
            strategy.tell(batch, y)
            asked += rows
        out[name] = _digest("\n".join(asked).encode())
        print(f"proposals {name}: {out[name]}", flush=True)
    return out


def _scripts() -> dict[str, str]:
    """``[project.scripts]`` of this checkout's pyproject.toml (not the installed metadata)."""
    text = (REPO / "pyproject.toml").read_text().split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    return dict(re.findall(r'^([\w-]+)\s*=\s*"([^"]+)"', text, re.MULTILINE))


def _command(script: str, args: list[str], cwd: Path) -> None:
    module, function = _scripts()[script].split(":")
    argv = [script, *args]
    code = f"import sys; sys.argv = {argv!r}\nfrom {module} import {function}\n{function}()"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                         text=True)  # fmt: skip
    if run.returncode != 0:
        raise SystemExit(f"{script} failed:\n{run.stderr[-3000:]}")


def _weights(path: Path, key: str | None) -> str:
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    if key is not None:
        state = state[key]
    digest = hashlib.blake2b(digest_size=8)
    for name in sorted(state):
        value = state[name]
        if isinstance(value, torch.Tensor):
            digest.update(name.encode())
            digest.update(value.detach().contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()


def _model_key(path: Path) -> str | None:
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    return next((k for k in ("model", "state_dict") if isinstance(state.get(k), dict)), None)


def commands(work: Path) -> dict[str, Any]:
    common = ["num_threads=1", "progress=false"]
    sup = work / "supernet"
    _command("nas-train-supernet", [f"run_dir={sup}", "schedule.epochs=1", *common], work)
    final = sup / "final.pt"
    out: dict[str, Any] = {"supernet_weights": _weights(final, _model_key(final))}
    print(f"supernet weights: {out['supernet_weights']}", flush=True)
    search = work / "search"
    _command("nas-search", [f"supernet={sup}", f"run_dir={search}", "num_samples=20",
                            "budget.macs=200000", *common], work)  # fmt: skip
    best = json.loads((search / "best_arch.json").read_text())
    out["best_arch"] = _digest(json.dumps(best.get("arch", best), sort_keys=True).encode())
    history = json.loads((search / "history.json").read_text())
    archs = [
        json.dumps([e["arch"], e["objectives"]], sort_keys=True) for e in history["evaluations"]
    ]
    out["search_history"] = _digest("\n".join(archs).encode())
    print(f"search: best {out['best_arch']}, history {out['search_history']}", flush=True)
    retrain = work / "retrain"
    _command("nas-retrain", [f"arch={search / 'best_arch.json'}", f"run_dir={retrain}",
                             "recipe.epochs=1", *common], work)  # fmt: skip
    final = retrain / "final.pt"
    out["retrain_weights"] = _weights(final, _model_key(final))
    print(f"retrain weights: {out['retrain_weights']}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--skip-commands", action="store_true")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    result: dict[str, Any] = {"proposals": proposals()}
    if not args.skip_commands:
        with tempfile.TemporaryDirectory() as tmp:
            result["commands"] = commands(Path(tmp))
    args.out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(json.dumps(result, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
