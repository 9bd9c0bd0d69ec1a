"""What every console script shares: the import guard, Hydra, and one-line errors.

Each ``nas-*`` entry point is ``run_cli(CONFIG_NAME, task)``: it checks that ``train`` and
``evaluate`` are this project's packages, composes ``conf/CONFIG_NAME.yaml`` with the command
line, runs ``task(cfg)`` and turns the project's own errors into ``error: <message>`` on stderr
with exit status 1 instead of a traceback (unexpected errors still show theirs). A required
setting left out (``???`` in the YAML, e.g. ``supernet`` of ``nas-search``) and Ctrl-C end in
one line too.

Every argument is checked before Hydra touches the disk: unknown settings, then the whole
command line composed once with Hydra's compose API (a bad group option or override is one
``error:`` line), then the run directory Hydra is about to create (a file, or a path under
one, is refused by name). A command that fails without starting its run (no ``run.json``
written) leaves an existing run folder as it was: Hydra's ``.hydra/`` and log are put back.

Example:
    >>> run_cli("search", run)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lamoo_nas.runtime.threads import set_threads
from lamoo_nas.supernet.errors import NASError

EXPECTED_ERRORS: tuple[type[BaseException], ...] = (NASError,)


def run_cli(
    config_name: str,
    task: Callable[[Any], Any],
    expected: tuple[type[BaseException], ...] = EXPECTED_ERRORS,
) -> None:
    """Run ``task`` as a Hydra app over ``conf/<config_name>.yaml``; see the module docstring."""
    if any(arg in ("--help", "-h") for arg in sys.argv[1:]):
        from lamoo_nas.commands._help import command_help

        print(command_help(config_name, Path(sys.argv[0]).name))
        sys.exit(0)
    import hydra
    from omegaconf import OmegaConf
    from omegaconf.errors import MissingMandatoryValue

    from lamoo_nas.commands._help import unknown_setting

    if not OmegaConf.has_resolver("nas_run_dir"):  # hydra.run.dir: run_dir= when it is given
        OmegaConf.register_new_resolver("nas_run_dir", lambda run_dir, default: run_dir or default)
    sys.argv[1:] = space_file_arguments(sys.argv[1:], config_name)
    problem = unknown_setting(config_name, Path(sys.argv[0]).name, sys.argv[1:])
    if problem is None:
        problem = composition_problem(config_name, Path(sys.argv[0]).name, sys.argv[1:])
    if problem is not None:
        sys.exit(problem)

    command = Path(sys.argv[0]).name
    before = _HydraFiles.snapshot(sys.argv[1:])

    def hydra_task(cfg: Any) -> Any:
        done = False
        try:
            set_threads(cfg.get("num_threads"))
            result = task(cfg)
            done = True
            return result
        except expected as err:
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
            if not done and before.run_untouched():  # refused: the folder as it was before us
                before.restore()
            _remove_if_unused()

    # Hydra resolves config_path against hydra_task's module (commands.runner): lamoo_nas.conf,
    # which works in a checkout and in a wheel install alike.
    hydra.main(config_path="../conf", config_name=config_name, version_base="1.3")(hydra_task)()


class _HydraFiles:
    """What Hydra's own files (``.hydra/``, ``<job>.log``) in an explicit ``run_dir=`` were
    before this command: Hydra writes them before any code of ours runs, so when the command
    fails without starting its run (its ``run.json`` unchanged: a refused folder, a bad value
    found late) they are put back as they were, and a folder Hydra made is removed again.
    """

    def __init__(
        self,
        folder: Path | None,
        saved: dict[str, bytes],
        logs: set[str],
        existed: bool = False,
        manifest: bytes | None = None,
    ) -> None:
        self.folder, self.saved, self.logs = folder, saved, logs
        self.existed, self.manifest = existed, manifest

    @classmethod
    def snapshot(cls, args: list[str]) -> _HydraFiles:
        given = [a.split("=", 1)[1] for a in args if a.startswith("run_dir=")]
        folder = Path(given[-1]) if given and given[-1] not in ("", "null") else None
        saved: dict[str, bytes] = {}
        logs: set[str] = set()
        existed = folder is not None and folder.is_dir()
        if folder is not None and existed:
            hydra_dir = folder / ".hydra"
            if hydra_dir.is_dir():
                saved = {p.name: p.read_bytes() for p in hydra_dir.iterdir() if p.is_file()}
            logs = {p.name for p in folder.glob("*.log")}
        return cls(folder, saved, logs, existed, _manifest_bytes(folder))

    def run_untouched(self) -> bool:
        """True when the command did not write the folder's ``run.json`` (its run never
        started there, or there is no explicit ``run_dir=``)."""
        return self.folder is not None and _manifest_bytes(self.folder) == self.manifest

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
        if not self.existed:
            with contextlib.suppress(OSError):  # holds files of the command's own: kept
                (self.folder / LOCK_FILE).unlink(missing_ok=True)
                self.folder.rmdir()


LOCK_FILE = ".lock"
"""The run directory's lock file (:mod:`runtime.rundir`), left by a refused first open."""


def _manifest_bytes(folder: Path | None) -> bytes | None:
    try:
        return None if folder is None else (folder / "run.json").read_bytes()
    except OSError:
        return None


def composition_problem(config_name: str, command: str, args: list[str]) -> str | None:
    """The ``error:`` line for a command line Hydra would fail on, else None: composed once
    with Hydra's compose API (no file written), then the run directory it would create checked
    (:func:`run_dir_problem`). Hydra's own flags (``--cfg``, ``-m``...) are left to Hydra."""
    if any(arg.startswith("-") for arg in args):
        return None
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_module(config_module="lamoo_nas.conf", version_base="1.3"):
            cfg = compose(config_name, overrides=args, return_hydra_config=True)
            run_dir = OmegaConf.select(cfg, "hydra.run.dir")
    except (HydraException, OmegaConfBaseException) as err:
        text = " ".join(str(err).split()).split(" Config search path")[0]
        return f"error: {command}: {text} (`{command} --help` lists every setting and group)"
    given = "run_dir" if any(arg.startswith("run_dir=") for arg in args) else "hydra.run.dir"
    return None if run_dir is None else run_dir_problem(str(run_dir), given)


def run_dir_problem(value: str, setting: str = "run_dir") -> str | None:
    """Why ``value`` cannot be a run directory (it, or a folder it would be made in, is a
    file), as an ``error:`` line; None when it can.

    Example:
        >>> run_dir_problem("/etc/hostname/run")[:62]
        'error: run_dir=/etc/hostname/run lies under /etc/hostname, which'
    """
    path = Path(value)
    fix = "give a run_dir= that is a new or empty folder, or a run to resume"
    for place in (path, *path.parents):
        if not place.exists():
            continue
        if place.is_dir():
            return None
        if place == path:
            return f"error: {setting}={value} is a file, not a folder; {fix}"
        return f"error: {setting}={value} lies under {place}, which is a file, not a folder; {fix}"
    return None


SPACE_FILE_KEY = "space_file"


def space_file_arguments(args: list[str], config_name: str | None = None) -> list[str]:
    """``space=my_space.yaml`` (a path, not a preset name) becomes ``~space
    +space_file=my_space.yaml``: Hydra looks group options up in ``conf/space/`` only, so the
    file is loaded by :func:`plain_config` instead. With ``config_name``, only for a command
    whose config has a ``space`` group: for another (``nas-search``) ``space=`` is left as
    given, so it is reported as the setting that command does not have.

    Example:
        >>> space_file_arguments(["space=spaces/mine.yaml", "seed=1"])
        ['~space', '+space_file=spaces/mine.yaml', 'seed=1']
    """
    if config_name is not None:
        from lamoo_nas.commands._help import _groups, composed_settings

        if "space" not in dict(_groups(composed_settings(config_name).get("defaults", []))):
            return list(args)
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
