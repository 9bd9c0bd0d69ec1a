"""The executors: ordered results, worker death and retries, errors, same search as serial."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lamoo_nas.evaluate.codec import Budget
from lamoo_nas.evaluate.evaluator import InheritedAccuracyEvaluator
from lamoo_nas.evaluate.executor import (
    ExecutorConfig,
    ExecutorError,
    LocalPool,
    WorkerDiedError,
    WorkerInfo,
    executor_from_plain,
    make_pool,
    worker_infos,
)
from lamoo_nas.evaluate.pooled_accuracy import PooledAccuracy, ScorerSpec
from lamoo_nas.evaluate.search_settings import SearchSettings
from lamoo_nas.evaluate.supernet_search import run_nas_search, search_supernet
from lamoo_nas.search import SearchHistory
from lamoo_nas.supernet import ArchConfig, CostModel
from lamoo_nas.supernet.errors import ConfigError
from lamoo_nas.train.checkpoint import load_supernet
from tests.evaluate.pool_tasks import (
    always_dies,
    dies_once,
    failing_setup,
    raises,
    square,
    which_worker,
)

REPO = Path(__file__).resolve().parents[2]


def _local(num_workers: int = 2, max_retries: int = 2, setup: Any = WorkerInfo.itself) -> Any:
    config = ExecutorConfig(kind="local", num_workers=num_workers, max_retries=max_retries)
    return make_pool(config, setup, "cpu", 1)


@pytest.fixture(scope="module")
def two_workers():
    with _local(max_retries=1) as pool:
        yield pool


def test_local_pool_returns_results_in_order_from_every_worker(two_workers) -> None:
    seen: list[int] = []
    out = two_workers.map(square, list(range(7)), lambda i, r: seen.append(i))
    assert [(x, y) for x, y, _ in out] == [(i, i * i) for i in range(7)]
    assert {w for _, _, w in out} <= {0, 1}
    assert sorted(seen) == list(range(7))
    workers = two_workers.each(which_worker)
    assert [index for index, _ in workers] == [0, 1]
    assert len({pid for _, pid in workers} | {os.getpid()}) == 3  # two processes of their own


def test_a_dead_worker_is_replaced_and_its_item_requeued(two_workers, tmp_path, capfd) -> None:
    marker = str(tmp_path / "died")
    items = [(i, marker if i == 3 else "") for i in range(6)]
    assert two_workers.map(dies_once, items, None) == list(range(6))
    assert Path(marker).exists()
    err = capfd.readouterr().err
    assert "died (exit code 7)" in err and "re-queued it on a fresh worker (retry 1 of 1)" in err


def test_retries_are_bounded_and_errors_reach_the_driver_as_themselves(two_workers) -> None:
    with pytest.raises(WorkerDiedError, match="2 times"):
        two_workers.map(always_dies, [1, 2, 3], None)
    with pytest.raises(ConfigError, match="item 2 is bad"):
        two_workers.map(raises, [0, 1, 2, 3], None)
    # the items in flight were dropped and dead workers replaced: the next batch runs
    assert [x for x, _, _ in two_workers.map(square, [4, 5, 6], None)] == [4, 5, 6]


def test_a_failed_setup_is_reported() -> None:
    with _local(setup=failing_setup) as pool, pytest.raises(ConfigError, match="data folder"):
        pool.map(square, [1], None)


def test_serial_pool_runs_here() -> None:
    with make_pool(ExecutorConfig(), WorkerInfo.itself) as pool:
        assert pool.map(which_worker, [None], None) == [(0, os.getpid())]


@pytest.mark.parametrize(
    ("plain", "message"),
    [
        ({"kind": "threads"}, "executor.kind is 'threads'; allowed: serial, local, ray"),
        ({"kind": "local", "num_workers": 0}, "num_workers must be a positive integer"),
        ({"kind": "local", "max_retries": -1}, "max_retries must be >= 0"),
        ({"kind": "local", "num_worker": 2}, "did you mean executor.num_workers"),
        ({"kind": "ray", "ray": {"adress": "auto"}}, "did you mean executor.ray.address"),
    ],
)
def test_bad_executor_settings_are_named(plain, message) -> None:
    with pytest.raises(ConfigError, match=message):
        executor_from_plain(plain)


def test_workers_default_to_one_per_core_on_cpu() -> None:
    infos = worker_infos(ExecutorConfig(kind="local"), "cpu", 1)
    assert len(infos) == (os.cpu_count() or 1) and all(i.gpu is None for i in infos)


def test_ray_missing_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ExecutorError, match=r"pip install 'lamoo-nas\[ray\]'"):
        make_pool(ExecutorConfig(kind="ray", num_workers=1), WorkerInfo.itself)


# --- the search: same history with every backend ---------------------------------------------


def _settings(budget: Budget) -> SearchSettings:
    return SearchSettings(
        budget=budget, num_samples=16, batch_size=4, num_init=4, progress=False, seed=3
    )


def _budget(space: Any, cost_model: CostModel) -> Budget:
    lo, hi = cost_model(space.smallest()).macs, cost_model(space.largest()).macs
    return Budget(macs=(lo + hi) / 2)


def _trail(history: Any) -> list[tuple[Any, list[float], int]]:
    """What must not depend on the backend: architectures, objectives, order, iterations."""
    return [(json.dumps(e.arch), e.objectives, e.iteration) for e in history.evaluations]


@pytest.fixture(scope="module")
def serial_search(trained_run, tmp_path_factory):
    loaded = load_supernet(trained_run)
    settings = _settings(_budget(loaded.space, CostModel(loaded.space, loaded.num_classes)))
    out = tmp_path_factory.mktemp("serial")
    result = search_supernet(trained_run, settings, out, calib_images=32, use_ema=True,
                             device="cpu")  # fmt: skip
    return settings, result


@dataclass(frozen=True)
class DiesOnVictim:
    """A scorer setup whose worker dies the first time it is asked to score ``victim``."""

    spec: ScorerSpec
    victim: ArchConfig
    marker: str

    def __call__(self, info: WorkerInfo) -> _Dying:
        return _Dying(self.spec(info), self)


class _Dying:
    def __init__(self, evaluator: InheritedAccuracyEvaluator, plan: DiesOnVictim) -> None:
        self.evaluator, self.plan = evaluator, plan

    def identity(self) -> dict[str, Any]:
        return self.evaluator.identity()

    def timed_score(self, arch: ArchConfig) -> tuple[float, float]:
        if arch == self.plan.victim and not Path(self.plan.marker).exists():
            Path(self.plan.marker).touch()
            os._exit(9)  # killed mid-evaluation
        return self.evaluator.timed_score(arch)


def test_a_worker_killed_mid_search_leaves_the_serial_history(
    serial_search, trained_run, tmp_path
) -> None:
    settings, serial = serial_search
    loaded = load_supernet(trained_run)
    data = loaded.data_config
    spec = ScorerSpec(str(trained_run), True, data, max(loaded.space.resolutions), 32,
                      data.eval_batch_size)  # fmt: skip
    victim = loaded.space.arch_from_json(serial.history.evaluations[5].arch)  # second batch
    plan = DiesOnVictim(spec, victim, str(tmp_path / "killed"))
    cost_model = CostModel(loaded.space, loaded.num_classes)
    with LocalPool(plan, worker_infos(ExecutorConfig("local", 2), "cpu", 1), 2) as pool:
        accuracy = PooledAccuracy(pool, loaded.space)
        result = run_nas_search(loaded.space, cost_model, accuracy, settings, tmp_path / "run")
    assert (tmp_path / "killed").exists()
    assert _trail(result.history) == _trail(serial.history)
    cached = (tmp_path / "run" / "accuracy_cache.jsonl").read_text().splitlines()
    assert len(cached) == 1 + 16  # header + every architecture once, the victim included


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow  # ray (an optional extra): the local pool's tests cover the contract
def test_ray_pool_orders_results_retries_dead_actors_and_raises_task_errors(
    local_ray, tmp_path, capfd
) -> None:
    config = ExecutorConfig(kind="ray", num_workers=2, max_retries=1)
    marker = str(tmp_path / "died")
    with make_pool(config, WorkerInfo.itself, "cpu", 1) as pool:
        assert pool.num_workers == 2
        assert [i for i, _ in pool.each(which_worker)] == [0, 1]
        assert [x for x, _, _ in pool.map(square, list(range(5)), None)] == list(range(5))
        items = [(i, marker if i == 2 else "") for i in range(4)]
        assert pool.map(dies_once, items, None) == [0, 1, 2, 3]
        with pytest.raises(ConfigError, match="item 2 is bad"):
            pool.map(raises, [1, 2], None)
    assert "re-queued it on a fresh worker (retry 1 of 1)" in capfd.readouterr().err
    with make_pool(config, WorkerInfo.itself) as pool, pytest.raises(WorkerDiedError):
        pool.map(always_dies, [1], None)


@pytest.mark.slow  # ray (an optional extra): the local pool's tests cover the contract
def test_two_ray_workers_search_exactly_like_serial(
    local_ray, serial_search, trained_run, tmp_path
) -> None:
    settings, serial = serial_search
    pooled = search_supernet(
        trained_run, settings, tmp_path, calib_images=32, use_ema=True, device="cpu",
        executor=ExecutorConfig(kind="ray", num_workers=2),
    )  # fmt: skip
    assert _trail(pooled.history) == _trail(serial.history)


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
    return out


@pytest.mark.slow  # ~1.5 min: two subprocess searches with workers
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_killed_driver_leaves_no_worker_and_resumes_like_serial(
    serial_search, trained_run, tmp_path
) -> None:
    settings, serial = serial_search
    command = [sys.executable, "-m", "lamoo_nas.commands.search", f"supernet={trained_run}",
               f"run_dir={tmp_path}", "executor=local", "executor.num_workers=2",
               "num_samples=16", "batch_size=4", "num_init=4", "seed=3", "calib_images=32",
               f"budget.macs={settings.budget.macs}", "progress=false"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    driver = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)  # fmt: skip
    history, done = tmp_path / "history.json", 0
    deadline = time.monotonic() + 180
    while done < 4 and time.monotonic() < deadline and driver.poll() is None:
        with contextlib.suppress(OSError, ValueError):  # written atomically: whole or absent
            done = len(json.loads(history.read_text())["evaluations"])
        time.sleep(0.02)
    workers = _children(driver.pid)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    assert 4 <= done < 16, f"the driver was to be killed mid-search ({done} evaluations)"
    assert len(workers) >= 2
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    assert not left, f"workers {left} outlived their driver"
    rerun = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=300)  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    resumed = SearchHistory.load(history)
    assert _trail(resumed) == _trail(serial.history)


def test_an_executor_under_torchrun_is_refused(monkeypatch, trained_run, tmp_path) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="executor=local under torchrun: use one of them"):
        search_supernet(trained_run, SearchSettings(), tmp_path, calib_images=32, use_ema=True,
                        device="cpu", executor=ExecutorConfig("local", 2))  # fmt: skip
