"""Guarded run directories: a manifest that says whose folder it is, and a lock while it is written.

A run directory holds ``run.json`` (the manifest: ``format``/``version`` tag, ``kind`` such as
``"supernet"``, the full resolved ``config``, input ``fingerprints``, ``status`` ``"running"`` or
``"finished"``, ``created``/``updated`` UTC timestamps, and ``changes``, the differences accepted
on resumes) and ``.lock``, held with an exclusive ``fcntl.flock`` by the one process writing the
folder (the OS drops it when that process dies). :meth:`RunDirectory.open` refuses a foreign
non-empty folder, an existing run without ``resume``, a run of another kind, changed inputs and
changed settings, so a run is never overwritten or silently continued with other values.

``open`` always marks the run ``"running"``; the caller calls :meth:`RunDirectory.finish` when
its work is done (also after resuming a finished run), and reads ``previous_status`` to tell a
finished run from an interrupted one.

A run that names its ``state_files`` (what it resumes from: ``last.pt``, ``history.json``) gets
two more promises. The manifest describes the state on disk: changes a resume accepts wait in
``pending`` until a state file has been rewritten under them (or the run finishes), so a resume
that fails before its first checkpoint leaves ``config`` as the weights were trained. And a run
that stopped before writing any state has nothing to resume: the next open of its folder is a
fresh start (``restarted``) with the new settings, whether or not ``resume`` was asked.

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()) / "run"
    >>> with RunDirectory.open(folder, "search", {"seed": 0}, {}, resume=False) as run:
    ...     run.finish()
    >>> with RunDirectory.open(folder, "search", {"seed": 0, "progress": False}, {},
    ...                        resume=True) as run:
    ...     (run.previous_status, run.manifest["status"])
    ('finished', 'running')
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from lamoo_nas.runtime.errors import RunError
from lamoo_nas.runtime.io import TEMP_SUFFIX, atomic_write_text, remove_orphans

MANIFEST_NAME = "run.json"
LOCK_NAME = ".lock"
FORMAT = "lamoo-nas/run"
VERSION = 1

NEUTRAL_KEYS: frozenset[str] = frozenset(
    {"progress", "num_threads", "tensorboard", "log_every_steps", "checkpoint.every_steps"}
    | {"checkpoint_every_steps", "run_dir", "resume", "hydra", "resume_changes", "executor"}
)
"""Dotted config keys whose values never change a run's results, so a resume ignores them (and
their subkeys): display and logging (a tqdm bar, TensorBoard, the log interval), CPU threads
(speed only), how often last.pt is written, where the run is and how it was started (the
``executor`` that spreads evaluations and retrains over workers gives the same results), and
Hydra's own settings. An entry matches at any depth, so ``tensorboard`` also covers the pipeline's
``supernet.tensorboard``. Left out on purpose: ``device`` (CPU vs CUDA numerics differ, and
``amp: auto`` resolves by device), ``data.num_workers`` (which worker augments which batch
changes the random augmentations), ``compile`` and ``eval.*``; accept those explicitly."""

DEFAULT_HINT = (
    "accept the new values with resume_changes=[{keys}] (recorded in run.json), or give a new "
    "run_dir= to start a fresh run"
)
"""How the commands say a changed setting can be taken on a resume."""

RESTART_NOTE = (
    "{run_dir} held a run that stopped before it saved any state; there is nothing to resume, "
    "so it starts afresh with these settings"
)
"""What the commands print when :meth:`RunDirectory.open` restarts such a run (``restarted``)."""

_IGNORED_WHEN_EMPTY = (
    LOCK_NAME,
    ".hydra",
    ".ranks",
)  # plus empty *.log files (Hydra makes them) and
# temp files of an interrupted first write of run.json


class RunDirError(RunError):
    """A run directory cannot be used as asked; the message says why and what to do."""


class RunDirNotEmptyError(RunDirError):
    """The folder holds files but no manifest: it is not a run directory of this project."""


class RunDirExistsError(RunDirError):
    """The folder already holds a run and ``resume`` was not asked for."""


class RunDirMismatchError(RunDirError):
    """The folder holds a run of another kind, or one made from other inputs (fingerprints)."""


class RunConfigChangedError(RunDirError):
    """A resume was asked with settings that differ from the run's and were not accepted."""


class RunLockedError(RunDirError):
    """Another process holds the folder's lock (it is writing this run)."""


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


ABSENT: Any = _Absent()
"""Stands for a key present on one side of :func:`config_differences` only."""


def config_differences(
    old: Mapping[str, Any], new: Mapping[str, Any], neutral_keys: frozenset[str] = NEUTRAL_KEYS
) -> list[tuple[str, Any, Any]]:
    """``(dotted_key, old_value, new_value)`` for every leaf that differs between two nested
    configs, in key order; a key on one side only has :data:`ABSENT` on the other. Lists are
    compared as whole values; keys matching ``neutral_keys`` (see :data:`NEUTRAL_KEYS`) and their
    subkeys are skipped.

    Example:
        >>> config_differences({"optim": {"lr": 0.006}, "progress": True},
        ...                    {"optim": {"lr": 1e-4}, "progress": False})
        [('optim.lr', 0.006, 0.0001)]
    """
    found: list[tuple[str, Any, Any]] = []
    neutral = [tuple(key.split(".")) for key in neutral_keys]
    _walk(old, new, (), neutral, found)
    return found


def _walk(old: Any, new: Any, key: tuple[str, ...], neutral: list, found: list) -> None:
    if any(_contains(key, entry) for entry in neutral):
        return
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for name in sorted({*old, *new}, key=str):
            _walk(old.get(name, ABSENT), new.get(name, ABSENT), (*key, str(name)), neutral, found)
    elif old != new or isinstance(old, bool) != isinstance(new, bool):
        found.append((".".join(key), old, new))


def _contains(key: tuple[str, ...], entry: tuple[str, ...]) -> bool:
    size = len(entry)
    return any(key[i : i + size] == entry for i in range(len(key) - size + 1))


class RunDirectory:
    """A locked run directory and its manifest; open it with :meth:`open`, use it as a context
    manager (or call :meth:`close`) to release the lock."""

    def __init__(
        self,
        path: Path,
        manifest: dict[str, Any],
        lock_fd: int,
        previous: str | None,
        accepted: Sequence[tuple[str, Any, Any]] = (),
        restarted: bool = False,
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.previous_status = previous  # None for a new run, else "running" or "finished"
        self.accepted = list(accepted)  # (key, old, new) taken by this resume; [] if none
        self.restarted = restarted  # the folder held a run that had saved no state: started anew
        self._lock_fd: int | None = lock_fd

    @classmethod
    def open(
        cls,
        path: str | Path,
        kind: str,
        config: Mapping[str, Any],
        fingerprints: Mapping[str, str],
        *,
        resume: bool,
        resume_changes: Sequence[str] = (),
        neutral_keys: frozenset[str] = NEUTRAL_KEYS,
        hint: str = DEFAULT_HINT,
        adopt: Mapping[str, Any] | None = None,
        state_files: Sequence[str] = (),
    ) -> RunDirectory:
        """Lock ``path`` (created if missing), then start a new run or resume the one there,
        removing the temp files of interrupted atomic writes once the folder is known to be a
        run directory (a foreign folder is left exactly as it was, with no ``.lock``).

        ``resume_changes`` lists dotted keys (a key accepts its subkeys) whose new values a resume
        takes, recorded in ``changes``; ``hint`` ends the message of
        :class:`RunConfigChangedError` (``{keys}`` in it becomes the changed keys, comma-joined).
        Raises the :class:`RunDirError` subclasses above; the folder is left untouched then.

        ``adopt`` resumes a run written before run directories had manifests: ``{"config": ...,
        "fingerprints": ...}`` as its checkpoint recorded them. With ``resume`` and no
        ``run.json``, the manifest is made from it (``"adopted": true``) and the new settings are
        compared with those, as for any resume.

        ``state_files`` name the files the run resumes from (see the module docstring): accepted
        changes stay ``pending`` until one of them is rewritten, and an unfinished run with none
        of them is started afresh (``restarted``)."""
        path = Path(path)
        plain = _plain(config, "config")
        lock_fd, made_lock = _lock(path)
        try:
            manifest_path, previous, now = path / MANIFEST_NAME, None, _now()
            accepted: list[tuple[str, Any, Any]] = []
            restarted = False
            if manifest_path.exists():
                manifest = _read(manifest_path)
                _settle_pending(manifest, path)
                previous = manifest["status"]
                if previous != "finished" and state_files and manifest["kind"] == kind:
                    restarted = not _state_stamps(path, state_files)
                if restarted:  # it stopped before saving anything: nothing to resume or keep
                    manifest, previous = _new_manifest(kind, plain, fingerprints, now), None
            elif resume and adopt is not None:  # a run from before manifests: its checkpoint's
                manifest = _new_manifest(kind, adopt["config"], adopt["fingerprints"], now)
                manifest["adopted"], previous = True, "running"
            else:
                _check_empty(path, resume)
                manifest = _new_manifest(kind, plain, fingerprints, now)
            if previous is not None:
                _check_resumable(path, manifest, kind, fingerprints, resume)
                accepted = _take_changes(
                    path, manifest, plain, neutral_keys, resume_changes, hint, now
                )
                if accepted and state_files:  # config: what the state on disk was trained with
                    manifest["pending"]["state"] = _state_stamps(path, state_files)
                else:
                    _settle_pending(manifest, path, taken=True)
            manifest.update(status="running", updated=now)
            remove_orphans(path)  # only once the folder is known to be ours
            _write(manifest_path, manifest)
            return cls(path, manifest, lock_fd, previous, accepted, restarted)
        except BaseException as err:
            if made_lock and isinstance(err, RunDirNotEmptyError):  # leave a foreign folder as
                (path / LOCK_NAME).unlink(missing_ok=True)  # it was (every opener refuses it)
            _unlock(lock_fd)
            raise

    def finish(self) -> None:
        """Mark the run finished (the manifest is rewritten atomically); changes still pending
        are taken, since the run's final state was written under them."""
        if self._lock_fd is None:
            raise RunDirError(f"{self.path} was closed; open it again to mark it finished")
        _settle_pending(self.manifest, self.path, taken=True)
        self.manifest.update(status="finished", updated=_now())
        _write(self.path / MANIFEST_NAME, self.manifest)

    def close(self) -> None:
        """Release the lock (a second call does nothing)."""
        if self._lock_fd is not None:
            _unlock(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> RunDirectory:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _lock(path: Path) -> tuple[int, bool]:
    """Take ``<path>/.lock`` (exclusive, non-blocking), write our pid into it; returns the file
    descriptor and whether the lock file is new."""
    if path.exists() and not path.is_dir():
        raise RunDirError(f"{path} is a file, not a folder; give a run_dir= that is a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        made = not (path / LOCK_NAME).exists()
        fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise RunDirError(
            f"cannot create {path / LOCK_NAME} ({err.strerror}); give a run_dir= you can write to"
        ) from err
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise RunLockedError(
            f"{path} is in use by another process (pid {holder}); wait for it to end, "
            "or give another run_dir="
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return fd, made


def _unlock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def _check_empty(path: Path, resume: bool) -> None:
    hydra_made = (path / ".hydra").is_dir()  # Hydra writes .hydra/ and its job log first
    found = sorted(
        entry.name
        for entry in path.iterdir()
        if entry.name not in _IGNORED_WHEN_EMPTY
        and not (entry.name.startswith(f".{MANIFEST_NAME}.") and entry.name.endswith(TEMP_SUFFIX))
        and not (
            entry.suffix == ".log" and entry.is_file() and (hydra_made or entry.stat().st_size == 0)
        )
    )
    if not found:
        return
    shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
    if resume:
        what = "cannot be resumed: it has no run.json, so no run of this version wrote it"
    else:
        what = "is not empty and is not a run directory (no run.json)"
    raise RunDirNotEmptyError(
        f"{path} {what} (it holds {shown}); nothing was changed. Give an empty or new run_dir="
    )


def _check_resumable(
    path: Path,
    manifest: Mapping[str, Any],
    kind: str,
    fingerprints: Mapping[str, str],
    resume: bool,
) -> None:
    if manifest["kind"] != kind:
        raise RunDirMismatchError(
            f"{path} holds a {manifest['kind']} run, not a {kind} run; give a new run_dir= for "
            f"the {kind} run"
        )
    if not resume:
        raise RunDirExistsError(
            f"{path} already holds a {kind} run (status {manifest['status']}); resume it with "
            "resume=true, or give a new run_dir="
        )
    old = manifest["fingerprints"]
    for name in sorted({*old, *fingerprints}):
        before, after = old.get(name, ABSENT), fingerprints.get(name, ABSENT)
        if before != after:
            raise RunDirMismatchError(
                f"{path} cannot be resumed: the {name} differs: {before} vs {after}; use the "
                "run's original input, or give a new run_dir="
            )


def _new_manifest(
    kind: str, config: Mapping[str, Any], fingerprints: Mapping[str, str], now: str
) -> dict[str, Any]:
    manifest = {"format": FORMAT, "version": VERSION, "kind": kind, "created": now}
    manifest.update(config=_plain(config, "config"), fingerprints=dict(fingerprints), changes=[])
    return manifest


def _take_changes(
    path: Path,
    manifest: dict[str, Any],
    config: dict[str, Any],
    neutral_keys: frozenset[str],
    resume_changes: Sequence[str],
    hint: str,
    now: str,
) -> list[tuple[str, Any, Any]]:
    """Put the accepted differences and ``config`` in the manifest's ``pending`` (returns the
    differences), or refuse the unaccepted ones."""
    differences = config_differences(manifest["config"], config, neutral_keys)
    accepted = [(entry, entry + ".") for entry in resume_changes]  # a key accepts its subkeys
    refused = [
        d for d in differences if not any(d[0] == a or d[0].startswith(b) for a, b in accepted)
    ]
    if refused:
        listed = ", ".join(f"{key}: {_show(old)} -> {_show(new)}" for key, old, new in refused)
        keys = ",".join(key for key, _, _ in refused)
        raise RunConfigChangedError(
            f"{path} holds a {manifest['kind']} run started with other settings ({listed}); "
            f"rerun with the old values, or {hint.replace('{keys}', keys)}"
        )
    changes = []
    for key, old, new in differences:
        change = {"time": now, "key": key}  # a side that is absent is left out
        change.update({} if old is ABSENT else {"old": old})
        change.update({} if new is ABSENT else {"new": new})
        changes.append(change)
    manifest["pending"] = {"config": config, "changes": changes, "state": {}}
    return differences


def _settle_pending(manifest: dict[str, Any], path: Path, taken: bool = False) -> None:
    """Take the manifest's ``pending`` changes into ``config`` and ``changes`` when ``taken``
    or when a state file was rewritten since they were accepted; else drop them (the resume that
    accepted them saved nothing, so the state on disk is still the old settings')."""
    pending = manifest.pop("pending", None)
    if not isinstance(pending, Mapping):
        return
    state = pending.get("state") or {}
    if taken or _state_stamps(path, list(state)) != state:
        manifest["changes"] = [*manifest["changes"], *pending.get("changes", [])]
        manifest["config"] = pending.get("config", manifest["config"])


def _state_stamps(path: Path, names: Sequence[str]) -> dict[str, list[int]]:
    """``{name: [mtime_ns, size]}`` of the state files that exist in ``path``."""
    stamps = {}
    for name in names:
        with contextlib.suppress(OSError):
            stat = (path / name).stat()
            stamps[name] = [stat.st_mtime_ns, stat.st_size]
    return stamps


def saved_no_state(path: str | Path, state_files: Sequence[str]) -> bool:
    """True when ``path`` holds an unfinished run that never wrote any of its ``state_files``
    (it failed or was stopped before its first checkpoint): :meth:`RunDirectory.open` starts it
    afresh, so a ``resume`` of it is a fresh start too.

    Example:
        >>> saved_no_state("/nonexistent", ["last.pt"])
        False
    """
    path = Path(path)
    try:
        manifest = json.loads((path / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    if not isinstance(manifest, dict) or manifest.get("status") == "finished":
        return False
    return manifest.get("format") == FORMAT and not _state_stamps(path, state_files)


def _read(manifest_path: Path) -> dict[str, Any]:
    fix = "restore it or give a new run_dir= (it is not replaced)"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        reason = f"{type(err).__name__}: {err}".splitlines()[0]
        raise RunDirError(f"{manifest_path} is unreadable or corrupt ({reason}); {fix}") from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise RunDirError(
            f"{manifest_path} is not a run manifest (no format tag {FORMAT!r}); {fix}"
        )
    if manifest.get("version") != VERSION:
        raise RunDirError(
            f"{manifest_path} has format version {manifest.get('version')}, this code reads "
            f"{VERSION}; give a new run_dir="
        )
    required = ("kind", "status", "config", "fingerprints", "changes", "created")
    missing = [key for key in required if key not in manifest]
    if missing:
        raise RunDirError(f"{manifest_path} lacks keys {missing}; it is corrupt. {fix}")
    expected = {"kind": str, "status": str, "config": dict, "fingerprints": dict, "changes": list}
    for key, kind in expected.items():
        if not isinstance(manifest[key], kind):
            raise RunDirError(
                f"{manifest_path}: {key} is {_show(manifest[key])}, not {_KIND_NAMES[kind]}; it "
                f"is corrupt. {fix}"
            )
    if manifest["status"] not in STATUSES:
        raise RunDirError(
            f"{manifest_path}: status is {_show(manifest['status'])}, not one of "
            f"{', '.join(STATUSES)}; it is corrupt. {fix}"
        )
    return manifest


STATUSES = ("running", "finished")
_KIND_NAMES = {str: "a string", dict: "a mapping", list: "a list"}


def _write(manifest_path: Path, manifest: Mapping[str, Any]) -> None:
    atomic_write_text(manifest_path, json.dumps(manifest, indent=2) + "\n")


def _plain(value: Any, key: str) -> Any:
    """``value`` as JSON data (mappings to dicts, tuples to lists); raises on anything else."""
    if isinstance(value, Mapping):
        return {str(name): _plain(item, f"{key}.{name}") for name, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{key}[{index}]") for index, item in enumerate(value)]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise RunDirError(
        f"{key} holds a value of type {type(value).__name__}, which run.json cannot store; "
        "pass plain data (e.g. OmegaConf.to_container(cfg, resolve=True))"
    )


def _show(value: Any) -> str:
    text = repr(value) if value is ABSENT else json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
