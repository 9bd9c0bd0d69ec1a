"""What every console script shares: the import guard, Hydra, and one-line errors.

Each ``nas-*`` entry point is ``run_cli(CONFIG_NAME, task)``: it checks that ``train`` and
``evaluate`` are this project's packages, composes ``conf/CONFIG_NAME.yaml`` with the command
line, runs ``task(cfg)`` and turns the project's own errors into ``error: <message>`` on stderr
with exit status 1 instead of a traceback (unexpected errors still show theirs). A required
setting left out (``???`` in the YAML, e.g. ``supernet`` of ``nas-search``) and Ctrl-C end in
one line too.

Example:
    >>> run_cli("search", run)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lamoo_nas.supernet._guard import check_project_packages
from lamoo_nas.supernet.errors import ConfigError, NASError

EXPECTED_ERRORS: tuple[type[BaseException], ...] = (NASError,)


def run_cli(
    config_name: str,
    task: Callable[[Any], Any],
    expected: tuple[type[BaseException], ...] = EXPECTED_ERRORS,
) -> None:
    """Run ``task`` as a Hydra app over ``conf/<config_name>.yaml``; see the module docstring."""
    try:
        check_project_packages()
    except NASError as err:
        sys.exit(f"error: {err}")
    if any(arg in ("--help", "-h") for arg in sys.argv[1:]):
        from lamoo_nas.train._help import command_help

        print(command_help(config_name, Path(sys.argv[0]).name))
        sys.exit(0)
    from lamoo_nas.train._help import unknown_setting

    sys.argv[1:] = space_file_arguments(sys.argv[1:])
    problem = unknown_setting(config_name, Path(sys.argv[0]).name, sys.argv[1:])
    if problem is not None:
        sys.exit(problem)
    import hydra
    from omegaconf import OmegaConf
    from omegaconf.errors import MissingMandatoryValue

    if not OmegaConf.has_resolver("nas_run_dir"):  # hydra.run.dir: run_dir= when it is given
        OmegaConf.register_new_resolver("nas_run_dir", lambda run_dir, default: run_dir or default)

    command = Path(sys.argv[0]).name
    before = _HydraFiles.snapshot(sys.argv[1:])

    def hydra_task(cfg: Any) -> Any:
        try:
            set_threads(cfg.get("num_threads"))
            return task(cfg)
        except expected as err:
            from lamoo_nas.train.rundir import RunDirError

            if isinstance(err, RunDirError):  # refused: leave the folder as it was before us
                before.restore()
            sys.exit(f"error: {err}")
        except MissingMandatoryValue as err:
            key = getattr(err, "full_key", None) or "a required setting"
            sys.exit(
                f"error: {command} needs {key}=...; give it on the command line, e.g. "
                f"`{command} {key}=PATH` (`{command} --cfg job` shows every setting)"
            )
        except KeyboardInterrupt:
            sys.exit(
                f"interrupted: {command} stopped; what it had written is kept (checkpoints and "
                "histories are written atomically). Rerun with the same run_dir= (and "
                "resume=true for training and retraining) to continue"
            )
        finally:
            _remove_if_unused()

    # Hydra resolves config_path against hydra_task's module (train.cli): lamoo_nas.conf, which
    # works in a checkout and in a wheel install alike.
    hydra.main(config_path="../conf", config_name=config_name, version_base="1.3")(hydra_task)()


class _HydraFiles:
    """What Hydra's own files (``.hydra/``, ``<job>.log``) in an explicit ``run_dir=`` were
    before this command: Hydra writes them before any code of ours runs, so when the run
    directory is refused (another run's folder, a user's folder) they are put back as they were.
    """

    def __init__(self, folder: Path | None, saved: dict[str, bytes], logs: set[str]) -> None:
        self.folder, self.saved, self.logs = folder, saved, logs

    @classmethod
    def snapshot(cls, args: list[str]) -> _HydraFiles:
        given = [a.split("=", 1)[1] for a in args if a.startswith("run_dir=")]
        folder = Path(given[-1]) if given and given[-1] not in ("", "null") else None
        saved: dict[str, bytes] = {}
        logs: set[str] = set()
        if folder is not None and folder.is_dir():
            hydra_dir = folder / ".hydra"
            if hydra_dir.is_dir():
                saved = {p.name: p.read_bytes() for p in hydra_dir.iterdir() if p.is_file()}
            logs = {p.name for p in folder.glob("*.log")}
        return cls(folder, saved, logs)

    def restore(self) -> None:
        import shutil

        if self.folder is None or not self.folder.is_dir():
            return
        hydra_dir = self.folder / ".hydra"
        shutil.rmtree(hydra_dir, ignore_errors=True)
        if self.saved:
            hydra_dir.mkdir()
            for name, data in self.saved.items():
                (hydra_dir / name).write_bytes(data)
        for log in self.folder.glob("*.log"):
            if log.name not in self.logs:
                log.unlink(missing_ok=True)


SPACE_FILE_KEY = "space_file"


def space_file_arguments(args: list[str]) -> list[str]:
    """``space=my_space.yaml`` (a path, not a preset name) becomes ``~space
    +space_file=my_space.yaml``: Hydra looks group options up in ``conf/space/`` only, so the
    file is loaded by :func:`plain_config` instead.

    Example:
        >>> space_file_arguments(["space=spaces/mine.yaml", "seed=1"])
        ['~space', '+space_file=spaces/mine.yaml', 'seed=1']
    """
    out = []
    for arg in args:
        key, _, value = arg.partition("=")
        if key == "space" and (value.endswith((".yaml", ".yml")) or "/" in value):
            out += ["~space", f"+{SPACE_FILE_KEY}={value}"]
        else:
            out.append(arg)
    return out


def plain_config(cfg: Any) -> dict[str, Any]:
    """The composed config resolved to plain data; a ``space_file`` (see
    :func:`space_file_arguments`) is read into ``space``, so what runs and what is stored in
    checkpoints and manifests is the space definition itself."""
    from omegaconf import OmegaConf

    resolved = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    assert isinstance(resolved, dict)
    plain = {str(k): v for k, v in resolved.items()}
    if plain.get(SPACE_FILE_KEY):
        from lamoo_nas.supernet.space import load_space

        plain["space"] = load_space(str(plain.pop(SPACE_FILE_KEY))).to_dict()
    return plain


def run_dir_for(cfg: Any) -> Path:
    """The one rule for every command's run directory: ``run_dir`` if set, the resumed run's
    folder for ``resume=PATH``, else Hydra's run dir."""
    if cfg.get("run_dir"):
        return Path(cfg.run_dir)
    resume = cfg.get("resume")
    if isinstance(resume, str) and resume:
        path = Path(resume)
        return path if path.is_dir() else path.parent
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir)


def set_threads(value: Any) -> None:
    """Apply a command's ``num_threads`` (null: leave torch's default, all cores).

    The one place the thread count is set: :func:`run_cli` calls it before every command.
    Every config defaults to 1: the small networks of a CPU run are fastest on one thread, and
    spinning OpenMP threads on a busy machine slow them several times over.
    """
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"num_threads must be a positive integer or null, not {value!r}")
    import torch

    torch.set_num_threads(value)


def _remove_if_unused() -> None:
    """Delete Hydra's run directory when the command wrote nothing of its own there.

    A failed call, or one whose results went elsewhere (``out=``), would otherwise leave a
    timestamped folder holding only ``.hydra/`` and an empty log.
    """
    import shutil

    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return
    folder = Path(HydraConfig.get().runtime.output_dir)
    if not (folder / ".hydra").is_dir() or folder.resolve() == Path.cwd().resolve():
        return  # not a folder Hydra made for this run (e.g. nas-predict runs in place)
    for entry in folder.iterdir():
        if entry.name == ".hydra":
            continue
        if entry.suffix == ".log" and entry.is_file() and entry.stat().st_size == 0:
            continue
        return
    shutil.rmtree(folder, ignore_errors=True)
    for parent in (folder.parent, folder.parent.parent):  # outputs/<command>/, outputs/
        if parent.name in (HydraConfig.get().job.name, "outputs"):
            with contextlib.suppress(OSError):  # not empty: other runs live there
                parent.rmdir()
