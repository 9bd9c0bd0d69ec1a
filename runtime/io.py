"""Files written atomically and torch files read safely: the one place that touches the disk.

Every checkpoint, history, metrics file and report of ``train`` and ``evaluate`` goes through
:func:`atomic_write_bytes` (temp file in the same folder, fsync, ``os.replace``): a reader sees
the old file or the new one, never half of one, and a full disk raises :class:`StorageError`
with the path instead of a library's internal error. :func:`append_line` is the append-only
counterpart for logs that grow by one record at a time. :func:`load_tagged` reads our torch
files with ``weights_only=True`` and checks their format tag. (``search`` keeps a writer of its
own: it imports nothing from the other packages.)

Example:
    >>> import tempfile
    >>> path = atomic_write_text(Path(tempfile.mkdtemp()) / "a.json", "{}")
    >>> path.read_text()
    '{}'
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from lamoo_nas.runtime.errors import StorageError
from lamoo_nas.supernet.errors import CheckpointError

TEMP_SUFFIX = ".tmp"
"""Temp files are ``.<name>.<random>.tmp`` beside their target (see :func:`remove_orphans`)."""


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; raises :class:`StorageError` if the disk is full
    or the folder is not writable (the previous file, if any, is left as it was)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent
        )
    except OSError as err:
        raise _storage_error(path, err) from err
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(tmp_name, path)
    except OSError as err:
        Path(tmp_name).unlink(missing_ok=True)
        raise _storage_error(path, err) from err
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` ``obj`` to ``path`` atomically (serialised in memory first, so a full
    disk is reported as such rather than as a torch stream error).

    Example:
        >>> import tempfile
        >>> atomic_torch_save({"w": torch.zeros(2)}, Path(tempfile.mkdtemp()) / "x.pt").name
        'x.pt'
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def append_line(path: str | Path, line: str) -> None:
    """Append one line (a newline is added) and fsync: an interruption loses at most this line,
    and a reader skips a torn last line (see :func:`read_lines`)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line.rstrip("\n") + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as err:
        raise _storage_error(path, err) from err


def read_lines(path: str | Path) -> list[str]:
    """The complete lines of an append-only file (a torn last line without its newline is
    dropped); ``[]`` when the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")
    return [line for line in lines[:-1] if line.strip()]  # lines[-1]: "" or a torn line


def remove_orphans(folder: str | Path) -> list[Path]:
    """Delete the temp files (and export temp folders) that interrupted atomic writes left in
    ``folder`` (not below it);
    returns what was removed. Call it when a run directory is opened, before writing."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for entry in folder.iterdir():
        name = entry.name
        if not (name.startswith(".") and name.endswith(TEMP_SUFFIX)):
            continue
        if entry.is_dir():  # an export assembled in a temp folder
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def load_tagged(
    path: Path,
    *,
    fmt: str,
    version: int,
    required: tuple[str, ...],
    what: str,
    hint: str,
    error: type[CheckpointError] = CheckpointError,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Load a torch file of ours safely (``weights_only=True``) and check its format tag,
    version and keys; any failure raises ``error`` naming ``what`` was expected and ``hint``.

    Example:
        >>> load_tagged(Path("final.pt"), fmt="lamoo-nas/supernet", version=1,
        ...             required=("model",), what="supernet checkpoint",
        ...             hint="train one with nas-train-supernet")  # doctest: +SKIP
    """
    raw = load_torch(path, hint=hint, error=error, map_location=map_location)
    if not isinstance(raw, Mapping) or raw.get("format") != fmt:
        article = "an" if what[0] in "aeiou" else "a"
        raise error(
            f"{path} is not {article} {what} of this project (no format tag {fmt!r}); {hint}"
        )
    missing = [key for key in required if key not in raw]
    if missing:
        raise error(f"{what} {path} lacks keys {missing}; it is incomplete")
    if raw["version"] != version:
        raise error(f"{what} {path} has format version {raw['version']}, this code reads {version}")
    return dict(raw)


def load_torch(
    path: Path,
    *,
    hint: str,
    error: type[CheckpointError] = CheckpointError,
    map_location: str | torch.device = "cpu",
) -> Any:
    """``torch.load(path, weights_only=True)``; a missing, truncated or foreign file raises
    ``error`` saying so, followed by ``hint`` (what to give instead).

    Example:
        >>> load_torch(Path("ofa.pth"), hint="download it again")  # doctest: +SKIP
    """
    if not Path(path).is_file():
        raise error(f"no file at {path}; {hint}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # foreign bytes fail in many ways (pickle, zip, EOF, Key...)
        raise error(
            f"{path} is corrupt or truncated, or not a torch file ({_load_failure(err)}); {hint}"
        ) from err


def _load_failure(err: Exception) -> str:
    """A short reason for a failed ``torch.load``, without torch's advice to unpickle freely."""
    if "weights_only" in str(err):  # torch suggests weights_only=False: never, for a data file
        return "it holds pickled objects beyond tensors and plain containers, which are not loaded"
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    reason = (lines[0] if lines else "").split(". ")[0]
    return f"{type(err).__name__}: {reason[:120]}"


def _storage_error(path: Path, err: OSError) -> StorageError:
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        reason = "no space left on the device"
        fix = "free some space (or give another run_dir=) and rerun"
    elif err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        reason = "the folder is not writable"
        fix = "give a run_dir= you can write to"
    else:
        reason = f"{type(err).__name__}: {err.strerror or err}"
        fix = "check the folder and rerun"
    error = StorageError(
        f"could not write {path}: {reason}; the previous file, if any, is unchanged. {fix}"
    )
    error.errno = err.errno
    return error


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
