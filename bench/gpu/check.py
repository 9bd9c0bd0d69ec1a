"""The GPU check: on a machine with one CUDA GPU, every GPU path of the project in one go (sized
for under 8 minutes), with one JSON + Markdown summary.

Steps, in order (each a subprocess with its own time limit, its output in ``OUT/logs/``):

1. ``gpu_tests``: the ``gpu``-marked tests (fp16 GradScaler, every switch together on CUDA,
   CUDA latency, CUDA in-memory batches; NCCL and one GPU per worker skip on one GPU).
2. ``throughput``: the supernet step at fp32 vs bf16 vs fp16 vs ``torch.compile``, img/s
   (:mod:`bench.train.gpu_paths_bench`).
3. ``cifar_data``: CIFAR-10 as an image folder from ``SHARED/data/cifar10_jpeg`` (skipped when
   ``--cifar-root`` already holds it).
4. ``nbmacro_supernet``: a short NAS-Bench-Macro supernet at the full 32x32 (bf16,
   channels-last; ``experiment=nbmacro_cifar_cpu`` otherwise).
5. ``rank_fidelity``: its inherited accuracies on 100 networks against the NAS-Bench-Macro table.
6. ``latency_table``: the CUDA latency table of ``space=nbmacro``.

``--dry-run`` runs nothing: it checks every step's command (the module imports, the Hydra
overrides name real settings and build typed configs, the benchmark's arguments parse), that the
inputs exist and that the output folder can be written, and prints the plan. It needs no GPU.

Example (shell)::

    bash bench/gpu/check.sh --dry-run        # on any machine: every command checked
    bash bench/gpu/check.sh                  # on a CUDA machine: OUT/summary.json, summary.md
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TABLE = Path("data/nbmacro/nas-bench-macro_cifar10.json")
CIFAR_TOOL = Path("tools/cifar10_imagefolder.py")
GPU_TESTS = ("tests/train/test_switches_cuda.py", "tests/evaluate/test_executor_cuda.py")
CONFIGS = {"lamoo_nas.commands.train_supernet": "train_supernet",
           "lamoo_nas.commands.evaluate": "evaluate",
           "lamoo_nas.commands.latency_table": "latency_table"}  # fmt: skip
"""The Hydra config of each command module a step runs."""


class CheckError(RuntimeError):
    """The check cannot start (no CUDA device, a step's command is wrong, an input is missing)."""


@dataclass(frozen=True)
class Step:
    """One command: ``python [-m module] args``; ``after``: steps it needs (skipped if they
    failed); ``inputs``: files it reads; ``done_if``: a file whose presence makes it needless."""

    name: str
    what: str
    module: str | None
    args: tuple[str, ...]
    timeout_s: int
    inputs: tuple[Path, ...] = ()
    after: tuple[str, ...] = ()
    done_if: Path | None = None

    def command(self, python: str) -> list[str]:
        return [python, *(["-m", self.module] if self.module else []), *self.args]


@dataclass
class Outcome:
    """What running a step gave: ``status`` ok, failed, timeout, skipped or planned."""

    name: str
    status: str
    seconds: float = 0.0
    returncode: int | None = None
    log: str = ""
    note: str = ""


@dataclass(frozen=True)
class Settings:
    out: Path
    shared: Path
    cifar_root: Path
    epochs: int = 3
    train_images: int = 15000
    budget_s: int = 480
    python: str = sys.executable


def plan(s: Settings) -> list[Step]:
    """The steps of the check, in order."""
    run_dir, table = s.out / "nbmacro_supernet", s.shared / TABLE
    return [
        Step("gpu_tests", "gpu-marked tests", "pytest",
             ("-m", "gpu", "-q", "-p", "no:cacheprovider", f"--junitxml={s.out / 'gpu_tests.xml'}",
              "tests"), 150, inputs=tuple(REPO / t for t in GPU_TESTS)),
        Step("throughput", "supernet step img/s: fp32, bf16, fp16, compile",
             "bench.train.gpu_paths_bench",
             ("--device", "cuda", "--threads", "4", "--presets", "nbmacro", "cifar",
              "--modes", "eager", "bf16", "fp16", "compiled", "--kinds", "supernet",
              "--batch-scale", "8", "--steps", "5", "--rounds", "2",
              "--out", str(s.out / "throughput.json")), 120),
        Step("cifar_data", "CIFAR-10 image folder", None,
             (str(s.shared / CIFAR_TOOL), str(s.cifar_root)), 90,
             inputs=(s.shared / CIFAR_TOOL,), done_if=s.cifar_root / ".complete"),
        Step("nbmacro_supernet", "NAS-Bench-Macro supernet at 32x32 (bf16, channels-last)",
             "lamoo_nas.commands.train_supernet",
             ("experiment=nbmacro_cifar_cpu", "space.resolutions=[32]", f"data.root={s.cifar_root}",
              f"data.max_train_images={s.train_images}", f"schedule.epochs={s.epochs}",
              "device=cuda", "amp=bf16", "channels_last=true", "num_threads=4",
              "progress=false", "tensorboard=false", f"run_dir={run_dir}"), 200,
             after=("cifar_data",)),
        Step("rank_fidelity", "rank fidelity on 100 networks vs NAS-Bench-Macro",
             "lamoo_nas.commands.evaluate",
             ("mode=rank", f"supernet={run_dir}", f"truth={table}", "num_archs=100",
              "device=cuda", "num_threads=4", f"out={s.out / 'rank' / 'evaluation.json'}",
              f"hydra.run.dir={s.out / 'rank'}"), 90,
             inputs=(table,), after=("nbmacro_supernet",)),
        Step("latency_table", "CUDA latency table of nbmacro", "lamoo_nas.commands.latency_table",
             ("space=nbmacro", "device=cuda", "progress=false",
              f"out={s.out / 'latency' / 'nbmacro_cuda.jsonl'}"), 90),
    ]  # fmt: skip


# --------------------------------------------------------------------------- dry run
def check_step(step: Step, python: str = sys.executable) -> list[str]:
    """What is wrong with ``step``'s command and inputs (empty: it would start)."""
    problems = [f"input {path} is missing" for path in step.inputs if not path.is_file()]
    module = step.module or ""
    try:
        if module == "pytest":
            importlib.import_module("pytest")
            for test in step.inputs:
                importlib.import_module(_module_of(test))
        elif module:
            importlib.import_module(module)
    except Exception as err:  # an import that fails on the GPU machine fails here too
        problems.append(f"{module or step.name} does not import: {type(err).__name__}: {err}")
        return problems
    if module in CONFIGS:
        problems += _check_overrides(CONFIGS[module], list(step.args))
    elif module == "bench.train.gpu_paths_bench":
        problems += _check_argparse(module, list(step.args))
    if not Path(python).exists():
        problems.append(f"the python {python} does not exist; pass --python")
    return problems


def _module_of(path: Path) -> str:
    return ".".join(path.resolve().relative_to(REPO).with_suffix("").parts)


def _check_overrides(config: str, args: list[str]) -> list[str]:
    """The Hydra overrides name real settings, compose, and (training) build typed configs."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from lamoo_nas.commands._help import unknown_setting

    problem = unknown_setting(config, config, args)
    if problem is not None:
        return [problem]
    overrides = [a for a in args if not a.startswith("hydra.")]
    try:
        with initialize_config_module(config_module="lamoo_nas.conf", version_base="1.3"):
            cfg = compose(config, overrides=overrides)
        missing = sorted(OmegaConf.missing_keys(cfg))
        if missing:
            return [f"{config}: no value for {', '.join(missing)}"]
        if config == "train_supernet":
            import torch

            from lamoo_nas.commands.train_supernet import build_config, run_dir_for
            from lamoo_nas.train.optimisation import amp_dtype

            typed = build_config(cfg, run_dir_for(cfg))
            amp_dtype(typed.run.amp, torch.device("cuda"))  # the value train_supernet checks
    except Exception as err:
        return [f"{config} with {shlex.join(overrides)}: {type(err).__name__}: {err}"]
    return []


def _check_argparse(module: str, args: list[str]) -> list[str]:
    parser = importlib.import_module(module).build_parser()
    try:
        parser.parse_args(args)
    except SystemExit:
        return [f"{module} refuses its arguments {shlex.join(args)} (message above)"]
    return []


def dry_run(s: Settings) -> tuple[list[Outcome], list[str]]:
    """The plan, each step checked; the problems found (empty: the check would start)."""
    problems: list[str] = []
    try:
        s.out.mkdir(parents=True, exist_ok=True)
        probe = s.out / ".write_probe"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        problems.append(f"the output folder {s.out} cannot be written: {err}; pass --out")
    outcomes = []
    for step in plan(s):
        done = step.done_if is not None and step.done_if.exists()
        found = [] if done else check_step(step, s.python)
        problems += [f"{step.name}: {p}" for p in found]
        status = "done" if done else "failed" if found else "planned"
        outcomes.append(Outcome(step.name, status, note="; ".join(found)))
        print(
            f"[{status}] {step.name} ({step.timeout_s} s max): {shlex.join(step.command(s.python))}"
        )
        for p in found:
            print(f"    problem: {p}")
    return outcomes, problems


# --------------------------------------------------------------------------- running
def run_steps(s: Settings, steps: Sequence[Step]) -> list[Outcome]:
    """Run ``steps`` in order within ``s.budget_s`` seconds in all."""
    logs = s.out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + s.budget_s
    outcomes: dict[str, Outcome] = {}
    for step in steps:
        failed = [n for n in step.after if outcomes[n].status not in ("ok", "done")]
        left = int(deadline - time.monotonic())
        if failed or left <= 0:
            note = f"needs {', '.join(failed)}" if failed else "the time budget is spent"
            outcomes[step.name] = Outcome(step.name, "skipped", note=note)
        elif step.done_if is not None and step.done_if.exists():
            outcomes[step.name] = Outcome(step.name, "done", note=f"{step.done_if} exists")
        else:
            outcomes[step.name] = _run(step, s.python, logs, min(step.timeout_s, left))
        o = outcomes[step.name]
        print(f"[{o.status}] {step.name} {o.seconds:.0f} s {o.note}", flush=True)
    return list(outcomes.values())


def _run(step: Step, python: str, logs: Path, timeout_s: int) -> Outcome:
    log = logs / f"{step.name}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    start = time.monotonic()
    with log.open("w") as out:
        out.write(f"$ {shlex.join(step.command(python))}\n")
        out.flush()
        # a session of its own: a step out of time is killed with every process it started
        proc = subprocess.Popen(
            step.command(python), cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return Outcome(step.name, "timeout", time.monotonic() - start, None, str(log),
                           f"stopped after {timeout_s} s")  # fmt: skip
    status = "ok" if rc == 0 else "failed"
    return Outcome(step.name, status, time.monotonic() - start, rc, str(log))


# --------------------------------------------------------------------------- summary
def collect(s: Settings) -> dict[str, Any]:
    """The figures each step left in ``s.out`` (a step that left nothing gives nothing)."""
    readers: dict[str, Callable[[Settings], Any]] = {
        "gpu_tests": _tests, "throughput": _throughput, "nbmacro_supernet": _supernet,
        "rank_fidelity": _rank, "latency_table": _latency,
    }  # fmt: skip
    figures: dict[str, Any] = {}
    for name, read in readers.items():
        try:
            value = read(s)
        except (OSError, ValueError, KeyError) as err:
            value = {"unreadable": f"{type(err).__name__}: {err}"}
        if value is not None:
            figures[name] = value
    return figures


def _tests(s: Settings) -> dict[str, int] | None:
    path = s.out / "gpu_tests.xml"
    if not path.is_file():
        return None
    suite = ET.parse(path).getroot()
    suite = suite if suite.tag == "testsuite" else suite[0]
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return counts


def _throughput(s: Settings) -> list[dict[str, Any]] | None:
    path = s.out / "throughput.json"
    if not path.is_file():
        return None
    keep = ("space", "step", "mode", "batch", "img_per_s", "ratio_to_eager", "first_step_s")
    return [{k: r.get(k) for k in keep} for r in json.loads(path.read_text())["rows"]]


def _supernet(s: Settings) -> dict[str, Any] | None:
    from lamoo_nas.train.logs import read_metrics

    run_dir = s.out / "nbmacro_supernet"
    if not (run_dir / "final.pt").is_file():
        return None
    row = read_metrics(run_dir)[-1]
    keys = [k for k in row if k.startswith("val_acc_")] + ["epoch", "train_seconds"]
    return {k: row[k] for k in keys if k in row}


def _rank(s: Settings) -> dict[str, Any] | None:
    path = s.out / "rank" / "evaluation.json"
    if not path.is_file():
        return None
    return {k: v for k, v in json.loads(path.read_text()).items() if k.endswith("_tau")}


def _latency(s: Settings) -> dict[str, Any] | None:
    from lamoo_nas.evaluate.latency_table import LatencyPredictor
    from lamoo_nas.supernet import load_space

    path = s.out / "latency" / "nbmacro_cuda.jsonl"
    if not path.is_file():
        return None
    space = load_space("nbmacro")
    predictor = LatencyPredictor.load(path, space, 10)
    return {
        "smallest_ms": round(predictor.predict_ms(space.smallest()), 4),
        "largest_ms": round(predictor.predict_ms(space.largest()), 4),
        "table": str(path),
    }


def markdown(summary: dict[str, Any]) -> str:
    """The summary as Markdown: each step's status, then the figures."""
    lines = [f"# GPU check ({summary['device']}, {summary['when']})", "",
             "| step | status | seconds | note |", "|---|---|---|---|"]  # fmt: skip
    for o in summary["steps"]:
        lines.append(f"| {o['name']} | {o['status']} | {o['seconds']:.0f} | {o['note']} |")
    figures = summary["figures"]
    rows = figures.get("throughput") or []
    if rows:
        lines += ["", "| space | step | mode | batch | img/s | vs eager | first step s |",
                  "|---|---|---|---|---|---|---|"]  # fmt: skip
        lines += [f"| {r['space']} | {r['step']} | {r['mode']} | {r['batch']} | {r['img_per_s']} "
                  f"| {r['ratio_to_eager']}x | {r['first_step_s']} |" for r in rows]  # fmt: skip
    for name in ("gpu_tests", "nbmacro_supernet", "rank_fidelity", "latency_table"):
        if name in figures:
            lines += ["", f"{name}: " + json.dumps(figures[name])]
    return "\n".join(lines) + "\n"


def write_summary(s: Settings, outcomes: list[Outcome], device: str, seconds: float) -> Path:
    """``summary.json`` and ``summary.md`` in ``s.out``; returns the JSON's path."""
    from lamoo_nas.runtime.io import atomic_write_text

    summary = {
        "device": device,
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "seconds": round(seconds, 1),
        "settings": {k: str(v) for k, v in asdict(s).items()},
        "steps": [asdict(o) for o in outcomes],
        "figures": collect(s),
    }
    atomic_write_text(s.out / "summary.md", markdown(summary))
    return atomic_write_text(s.out / "summary.json", json.dumps(summary, indent=2) + "\n")


# --------------------------------------------------------------------------- entry
def _default_shared() -> Path:
    inside = REPO / "shared"
    return inside if inside.is_dir() else REPO.parent / "shared"


def parse_args(argv: list[str] | None = None) -> tuple[Settings, bool]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="check every step, run none")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "gpu_check")
    parser.add_argument("--shared", type=Path, default=_default_shared(),
                        help="the folder holding data/nbmacro and tools/ (default: ./shared "
                             "or ../shared beside the checkout)")  # fmt: skip
    parser.add_argument("--cifar-root", type=Path, default=Path("/tmp/cifar10"))
    parser.add_argument("--epochs", type=int, default=3, help="supernet epochs")
    parser.add_argument("--train-images", type=int, default=15000, help="supernet train images")
    parser.add_argument("--budget-s", type=int, default=480, help="all steps together")
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args(argv)
    for name in ("epochs", "train_images", "budget_s"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    settings = Settings(
        args.out.resolve(), args.shared.resolve(), args.cifar_root.resolve(), args.epochs,
        args.train_images, args.budget_s, args.python,
    )  # fmt: skip
    return settings, args.dry_run


def main(argv: list[str] | None = None) -> int:
    settings, dry = parse_args(argv)
    if dry:
        _, problems = dry_run(settings)
        print(f"dry run: {len(problems)} problem(s)" if problems else "dry run: every step ok")
        return 1 if problems else 0
    import torch

    if not torch.cuda.is_available():
        raise CheckError("torch sees no CUDA device; this check needs one (--dry-run needs none)")
    _, problems = dry_run(settings)
    if problems:
        raise CheckError("not started: " + "; ".join(problems))
    start = time.monotonic()
    outcomes = run_steps(settings, plan(settings))
    device = torch.cuda.get_device_name(0)
    path = write_summary(settings, outcomes, device, time.monotonic() - start)
    print((settings.out / "summary.md").read_text())
    print(f"written: {path}")
    return 0 if all(o.status in ("ok", "done") for o in outcomes) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CheckError as err:
        sys.exit(f"error: {err}")
