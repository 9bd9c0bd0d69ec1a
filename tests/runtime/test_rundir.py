"""Guarded run directories: manifest, refusals that leave files untouched, resume checks, lock."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap

import pytest

from lamoo_nas.runtime.errors import RunError
from lamoo_nas.runtime.rundir import (
    ABSENT,
    NEUTRAL_KEYS,
    RunConfigChangedError,
    RunDirectory,
    RunDirError,
    RunDirExistsError,
    RunDirMismatchError,
    RunDirNotEmptyError,
    RunLockedError,
    config_differences,
)

CONFIG = {"seed": 0, "optim": {"lr": 0.006, "name": "adamw"}, "progress": True, "num_threads": 1}
FINGERPRINTS = {"space": "tiny:ab12", "data": "digits:cd34"}


def _open(path, config=CONFIG, *, resume, kind="supernet", fingerprints=FINGERPRINTS, **kwargs):
    return RunDirectory.open(path, kind, config, fingerprints, resume=resume, **kwargs)


def _manifest(path):
    return json.loads((path / "run.json").read_text())


def _with(**optim):
    return {**CONFIG, "optim": {**CONFIG["optim"], **optim}}


@pytest.fixture
def run_dir(tmp_path):
    """A supernet run made with CONFIG, closed again, with one result file in it."""
    path = tmp_path / "run"
    with _open(path, resume=False):
        (path / "last.pt").write_bytes(b"weights")
    return path


def test_new_run_writes_a_running_manifest(tmp_path):
    path = tmp_path / "new" / "run"
    with _open(path, resume=False) as run:
        assert run.path == path and run.previous_status is None
    manifest = _manifest(path)
    assert manifest["format"] == "lamoo-nas/run" and manifest["version"] == 1
    assert (manifest["kind"], manifest["status"]) == ("supernet", "running")
    assert manifest["config"] == CONFIG and manifest["fingerprints"] == FINGERPRINTS
    assert manifest["changes"] == [] and manifest["created"] == manifest["updated"]


def test_foreign_non_empty_folder_refused_and_untouched(tmp_path):
    (tmp_path / "metrics.csv").write_text("mine\n")
    (tmp_path / ".draft.x1.tmp").write_text("also mine")
    with pytest.raises(RunDirNotEmptyError, match=r"not a run directory.*\.draft\.x1\.tmp, metr"):
        _open(tmp_path, resume=False)
    assert (tmp_path / "metrics.csv").read_text() == "mine\n"
    assert sorted(entry.name for entry in tmp_path.iterdir()) == [".draft.x1.tmp", "metrics.csv"]


def test_resume_of_a_folder_without_manifest_refused(tmp_path):
    (tmp_path / "last.pt").write_bytes(b"old")
    with pytest.raises(RunDirNotEmptyError, match=r"cannot be resumed: it has no run\.json"):
        _open(tmp_path, resume=True)
    assert (tmp_path / "last.pt").read_bytes() == b"old"


def test_folder_with_only_what_hydra_makes_is_a_new_run(tmp_path):
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("seed: 0\n")
    (tmp_path / "train_supernet.log").write_text("")
    with _open(tmp_path, resume=False):
        pass
    assert _manifest(tmp_path)["status"] == "running"


def test_existing_run_without_resume_refused_and_untouched(run_dir):
    before = (run_dir / "run.json").read_text()
    message = f"{run_dir} already holds a supernet run (status running); resume it with resume=true"
    with pytest.raises(RunDirExistsError, match=re.escape(message)):
        _open(run_dir, resume=False)
    assert (run_dir / "run.json").read_text() == before
    assert (run_dir / "last.pt").read_bytes() == b"weights"


def test_resume_with_the_same_config(run_dir):
    with _open(run_dir, resume=True) as run:
        assert run.previous_status == "running"
        assert run.manifest["config"] == CONFIG and run.manifest["changes"] == []


def test_resume_with_changed_lr_refused(run_dir):
    before = (run_dir / "run.json").read_text()
    with pytest.raises(RunConfigChangedError) as caught:
        _open(run_dir, _with(lr=0.0001), resume=True, hint="accept with +accept=[{keys}]")
    message = str(caught.value)
    assert "optim.lr: 0.006 -> 0.0001" in message and "\n" not in message
    assert message.endswith("rerun with the old values, or accept with +accept=[optim.lr]")
    assert (run_dir / "run.json").read_text() == before


def test_default_hint_names_a_new_run_dir(run_dir):
    with pytest.raises(RunConfigChangedError, match=r"seed: 0 -> 1\).*new run_dir="):
        _open(run_dir, {**CONFIG, "seed": 1}, resume=True)


def test_accepted_change_recorded_and_config_updated(run_dir):
    new = _with(lr=0.0001)
    with _open(run_dir, new, resume=True, resume_changes=["optim.lr"]) as run:
        assert run.manifest["config"] == new
    manifest = _manifest(run_dir)
    assert manifest["config"] == new
    [change] = manifest["changes"]
    assert (change["key"], change["old"], change["new"]) == ("optim.lr", 0.006, 0.0001)
    assert change["time"] == manifest["updated"]


def test_accepting_a_section_accepts_its_subkeys_only(run_dir):
    new = {**_with(lr=0.0001, name="sgd"), "seed": 5}
    with pytest.raises(RunConfigChangedError, match=r"\(seed: 0 -> 5\)"):
        _open(run_dir, new, resume=True, resume_changes=["optim"])
    with _open(run_dir, new, resume=True, resume_changes=["optim", "seed"]):
        pass
    assert [c["key"] for c in _manifest(run_dir)["changes"]] == ["optim.lr", "optim.name", "seed"]


def test_neutral_keys_ignored_on_resume(run_dir):
    new = {**CONFIG, "progress": False, "num_threads": 8, "hydra": {"run": {"dir": "x"}}}
    with _open(run_dir, new, resume=True) as run:
        assert run.manifest["changes"] == []
    assert {"progress", "num_threads", "tensorboard", "run_dir", "resume"} <= NEUTRAL_KEYS
    assert "device" not in NEUTRAL_KEYS and "seed" not in NEUTRAL_KEYS


def test_config_differences_recursive_and_neutral_at_any_depth():
    old = {"a": {"b": 1, "c": [1, 2]}, "supernet": {"tensorboard": True, "amp": "none"}, "x": 1}
    new = {"a": {"b": 2, "c": [1, 2]}, "supernet": {"tensorboard": False, "amp": "bf16"}, "y": 1}
    assert config_differences(old, new, NEUTRAL_KEYS) == [
        ("a.b", 1, 2),
        ("supernet.amp", "none", "bf16"),
        ("x", 1, ABSENT),
        ("y", ABSENT, 1),
    ]
    assert config_differences({"flag": True}, {"flag": 1}, frozenset()) == [("flag", True, 1)]


def test_added_key_recorded_without_old_value(run_dir):
    new = {**CONFIG, "ema": {"enabled": True}}
    with _open(run_dir, new, resume=True, resume_changes=["ema"]):
        pass
    [change] = _manifest(run_dir)["changes"]
    assert change["key"] == "ema" and "old" not in change and change["new"] == {"enabled": True}


def test_fingerprint_change_refused(run_dir):
    changed = {**FINGERPRINTS, "supernet checkpoint": "final.pt:99"}
    with pytest.raises(RunDirMismatchError, match=r"the supernet checkpoint differs: <absent> vs"):
        _open(run_dir, resume=True, fingerprints=changed)
    other_data = {**FINGERPRINTS, "data": "cifar10:ee"}
    with pytest.raises(RunDirMismatchError, match=r"the data differs: digits:cd34 vs cifar10:ee"):
        _open(run_dir, resume=True, fingerprints=other_data)


def test_run_of_another_kind_refused(run_dir):
    with pytest.raises(RunDirMismatchError, match=r"holds a supernet run, not a search run"):
        _open(run_dir, resume=True, kind="search")


def test_lock_held_by_another_open_refused_with_pid(run_dir):
    in_use = rf"{re.escape(str(run_dir))} is in use .*pid {os.getpid()}\)"
    with _open(run_dir, resume=True), pytest.raises(RunLockedError, match=in_use):
        _open(run_dir, resume=True)
    with _open(run_dir, resume=True):  # released on close
        pass


def test_failed_open_releases_the_lock(run_dir):
    with pytest.raises(RunDirExistsError):
        _open(run_dir, resume=False)
    with _open(run_dir, resume=True):
        pass


def test_lock_released_when_the_holding_process_dies(run_dir):
    holder = textwrap.dedent(f"""
        import fcntl, os, sys, time
        fd = os.open({str(run_dir / ".lock")!r}, os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.ftruncate(fd, 0); os.write(fd, str(os.getpid()).encode())
        print("locked", flush=True); time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=rf"pid {proc.pid}\); wait for it to end"):
            _open(run_dir, resume=True)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()  # type: ignore[union-attr]
    with _open(run_dir, resume=True) as run:
        assert run.previous_status == "running"


def test_interrupted_first_manifest_write_is_still_a_new_run(tmp_path):
    orphan = tmp_path / ".run.json.k3j2.tmp"
    orphan.write_text('{"form')
    with _open(tmp_path, resume=False):
        assert not orphan.exists()
    assert _manifest(tmp_path)["status"] == "running"


def test_orphan_temp_files_removed_on_open(run_dir):
    orphan = run_dir / ".last.pt.abc123.tmp"
    orphan.write_bytes(b"half")
    with _open(run_dir, resume=True):
        assert not orphan.exists()
    assert (run_dir / "last.pt").exists()


@pytest.mark.parametrize(
    ("text", "match"),
    [("{not json", r"unreadable or corrupt \(JSONDecodeError"), ("[]", "not a run manifest")],
)
def test_corrupt_manifest_refused_and_kept(run_dir, text, match):
    (run_dir / "run.json").write_text(text)
    with pytest.raises(RunDirError, match=rf"run\.json is {match}.*it is not replaced"):
        _open(run_dir, resume=True)
    assert (run_dir / "run.json").read_text() == text


def test_finish_marks_finished_and_resume_runs_again(run_dir):
    with _open(run_dir, resume=True) as run:
        run.finish()
    assert _manifest(run_dir)["status"] == "finished"
    with _open(run_dir, resume=True) as run:
        assert run.previous_status == "finished" and run.manifest["status"] == "running"
    with pytest.raises(RunDirError, match="was closed"):
        run.finish()


def test_errors_are_run_errors():
    for error in (RunDirNotEmptyError, RunDirExistsError, RunConfigChangedError, RunLockedError):
        assert issubclass(error, RunDirError) and issubclass(error, RunError)


def test_config_that_is_not_plain_data_refused(tmp_path):
    with pytest.raises(RunDirError, match=r"config\.optim\.lr holds a value of type object"):
        _open(tmp_path, {**CONFIG, "optim": {"lr": object()}}, resume=False)
    assert not (tmp_path / "run.json").exists()


# ----------------------------------------------------------------------- state_files
def _stateful(path, config=CONFIG, **kwargs):
    return _open(path, config, state_files=("last.pt",), **kwargs)


def test_an_unfinished_run_that_saved_no_state_is_started_afresh(tmp_path):
    with _stateful(tmp_path, resume=False):
        pass  # stopped before its first checkpoint (disk full, killed, bad budget...)
    changed = {**CONFIG, "seed": 5}
    for resume in (False, True):  # a rerun and a resume alike, with any settings
        with _stateful(tmp_path, changed, resume=resume) as run:
            assert run.restarted and run.previous_status is None
        assert _manifest(tmp_path)["config"]["seed"] == 5
    (tmp_path / "last.pt").write_bytes(b"state")  # once it has state, it is a run again
    with pytest.raises(RunDirExistsError):
        _stateful(tmp_path, changed, resume=False)


def test_a_finished_run_or_another_kind_is_never_restarted(tmp_path):
    with _stateful(tmp_path, resume=False) as run:
        run.finish()
    with pytest.raises(RunDirExistsError):
        _stateful(tmp_path, resume=False)
    with _stateful(tmp_path / "s", resume=False, kind="search"):
        pass
    with pytest.raises(RunDirMismatchError, match="holds a search run"):
        _stateful(tmp_path / "s", resume=True)


def test_accepted_changes_wait_until_the_state_is_saved_under_them(tmp_path):
    with _stateful(tmp_path, resume=False):
        (tmp_path / "last.pt").write_bytes(b"trained with lr 0.006")
    new = {**CONFIG, "optim": {"lr": 1e-4, "name": "adamw"}}
    with _stateful(tmp_path, new, resume=True, resume_changes=["optim.lr"]) as run:
        assert run.accepted == [("optim.lr", 0.006, 1e-4)]
        on_disk = _manifest(tmp_path)  # the weights on disk are still lr 0.006's
        assert on_disk["config"]["optim"]["lr"] == 0.006 and on_disk["changes"] == []
        assert on_disk["pending"]["config"]["optim"]["lr"] == 1e-4
    # that resume failed before saving: the pending change is dropped, the old lr resumes
    with _stateful(tmp_path, resume=True) as run:
        assert run.accepted == []
    assert "pending" not in _manifest(tmp_path)
    # a resume that saves its state under the change makes it the run's config
    with _stateful(tmp_path, new, resume=True, resume_changes=["optim.lr"]):
        (tmp_path / "last.pt").write_bytes(b"trained with lr 1e-4, a longer file")
    with _stateful(tmp_path, new, resume=True):
        pass
    manifest = _manifest(tmp_path)
    assert manifest["config"]["optim"]["lr"] == 1e-4
    assert [(c["key"], c["old"], c["new"]) for c in manifest["changes"]] == [
        ("optim.lr", 0.006, 1e-4)
    ]


def test_finish_takes_the_pending_changes(tmp_path):
    with _stateful(tmp_path, resume=False):
        (tmp_path / "last.pt").write_bytes(b"x")
    new = {**CONFIG, "seed": 1}
    with _stateful(tmp_path, new, resume=True, resume_changes=["seed"]) as run:
        run.finish()
    manifest = _manifest(tmp_path)
    assert manifest["config"]["seed"] == 1 and "pending" not in manifest


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("status", "paused", r"status is \"paused\", not one of running, finished"),
        ("config", ["seed", 0], r"config is .*not a mapping"),
        ("changes", {}, r"changes is \{\}, not a list"),
    ],
)
def test_manifest_fields_of_the_wrong_type_name_the_file_and_field(run_dir, field, value, match):
    manifest = _manifest(run_dir)
    manifest[field] = value
    (run_dir / "run.json").write_text(json.dumps(manifest))
    with pytest.raises(RunDirError, match=r"run\.json: " + match):
        _open(run_dir, resume=True)
