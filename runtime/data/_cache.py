"""Image files decoded once into one uint8 tensor, cached on disk beside the data.

:func:`decoded_images` turns a list of image files into ``uint8 [N, 3, S, S]``: each file is
read with PIL as RGB (grayscale becomes 3 channels); a file that is already ``S x S`` is kept as
it is, any other has its shorter side resized to ``S`` (bilinear, antialiased) and is centre
cropped to ``S x S``. The result is cached as ``<fingerprint>.pt`` in ``ROOT/.lamoo_cache/``,
or, when ROOT is not writable (a shared read-only copy), in
``$XDG_CACHE_HOME/lamoo-nas/<hash of ROOT>/`` (default ``~/.cache/lamoo-nas/...``). The
fingerprint covers the file list, each file's size and mtime, ``S`` and the cache format, so a
changed source is decoded again. Caches are written atomically (temporary file, then
``os.replace``) and read with ``torch.load(weights_only=True)``; an unreadable or inconsistent
cache is decoded again and overwritten, never trusted.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from tqdm import tqdm

from lamoo_nas.runtime.data._files import open_image, read_rgb
from lamoo_nas.supernet.errors import DatasetError

CACHE_FOLDER = ".lamoo_cache"
"""Name of the cache folder inside the data root."""
CACHE_FORMAT = 1
"""Bumped whenever the decoding rule or the file layout changes (old caches are then ignored)."""


def stored_size(first_image: str, image_size: int) -> int:
    """The side ``S`` images are stored at: the native side of square images smaller than
    ``image_size`` (CIFAR's 32 x 32 at ``image_size >= 32``), else ``image_size``.

    Only the header of ``first_image`` is read.
    """
    with open_image(first_image) as image:
        width, height = image.size
    return width if width == height and width < image_size else image_size


def decoded_images(paths: list[str], root: Path, size: int) -> Tensor:
    """``uint8 [len(paths), 3, size, size]``, from the cache if it matches, else decoded.

    Raises :class:`DatasetError` naming the first file PIL cannot decode.

    Example:
        >>> images = decoded_images(["d/train/cat/0.png"], Path("d"), 32)  # doctest: +SKIP
        >>> images.shape, images.dtype  # doctest: +SKIP
        (torch.Size([1, 3, 32, 32]), torch.uint8)
    """
    key = fingerprint(paths, root, size)
    folders = cache_folders(root)
    for folder in folders:
        cached = _read(folder / f"{key}.pt", key, (len(paths), 3, size, size))
        if cached is not None:
            return cached
    images = _decode_all(paths, size, desc=f"decoding {root}")
    _write(folders, f"{key}.pt", {"fingerprint": key, "images": images})
    return images


def fingerprint(paths: list[str], root: Path, size: int) -> str:
    """sha256 over the format, ``size`` and each file's path (relative to ``root``), size and
    mtime; raises :class:`DatasetError` naming a file that vanished."""
    digest = hashlib.sha256(f"lamoo-images v{CACHE_FORMAT} size={size}\n".encode())
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError as err:
            raise DatasetError(f"imagefolder: cannot read {path!r} ({err})") from err
        name = os.path.relpath(path, root)
        digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


def cache_folders(root: Path) -> list[Path]:
    """Where caches are looked for and written, in order: beside the data, then the user's
    cache folder (``$XDG_CACHE_HOME`` or ``~/.cache``) under a hash of the resolved root."""
    user = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lamoo-nas"
    root_hash = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    return [root / CACHE_FOLDER, user / root_hash]


def _decode_all(paths: list[str], size: int, desc: str) -> Tensor:
    pixels = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    quiet = not sys.stderr.isatty()
    for i, path in enumerate(tqdm(paths, desc=desc, unit="img", disable=quiet)):
        pixels[i] = decode(path, size)
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()


def decode(path: str, size: int) -> np.ndarray:
    """One file as ``uint8 [size, size, 3]`` RGB (see the module docstring for the rule)."""
    rgb = read_rgb(path)
    if rgb.size != (size, size):
        width, height = rgb.size
        scale = size / min(width, height)
        width, height = max(size, round(width * scale)), max(size, round(height * scale))
        rgb = rgb.resize((width, height), Image.Resampling.BILINEAR)
        left, top = (width - size) // 2, (height - size) // 2
        rgb = rgb.crop((left, top, left + size, top + size))
    return np.asarray(rgb)


def _read(path: Path, key: str, shape: tuple[int, ...]) -> Tensor | None:
    if not path.is_file():
        return None
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a torn or foreign file can fail in many ways; decode again
        warnings.warn(f"image cache {path} is unreadable ({err}); decoding again", stacklevel=3)
        return None
    if not isinstance(content, dict):
        content = {}
    images = content.get("images")
    valid = (
        content.get("fingerprint") == key
        and isinstance(images, Tensor)
        and images.dtype == torch.uint8
        and tuple(images.shape) == shape
    )
    if not valid:
        warnings.warn(f"image cache {path} does not match its data; decoding again", stacklevel=3)
        return None
    return images


def _write(folders: list[Path], name: str, content: dict[str, object]) -> None:
    """Atomically into the first folder that takes it; a warning if none does."""
    errors = []
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, suffix=".tmp", delete=False) as handle:
                temporary = Path(handle.name)
            try:
                torch.save(content, temporary)
                temporary.chmod(0o644)  # mkstemp's 0600 would hide a shared cache from others
                os.replace(temporary, folder / name)
            finally:
                temporary.unlink(missing_ok=True)
            return
        except OSError as err:
            errors.append(f"{folder}: {err}")
    warnings.warn(
        f"could not cache the decoded images ({'; '.join(errors)}); they will be decoded again "
        "next time. Make ROOT or $XDG_CACHE_HOME writable",
        stacklevel=3,
    )
