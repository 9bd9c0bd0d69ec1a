"""The files of an image-folder tree: finding the images, and decoding one with errors that
name it.

A tree is ``SPLIT/<class>/.../<image>``: every sub-folder of ``SPLIT`` is a class, every file
below it (at any depth, links followed) whose name ends in one of :data:`IMAGE_EXTENSIONS`
(any case) is an image of that class. Names that start with ``"."`` are ignored, folders and
files alike (``.ipynb_checkpoints``, ``.DS_Store``, macOS ``._`` resource forks): they are never
classes and never images. Images are listed class by class, folders and files in sorted order.

Every decode failure (unreadable, truncated, not an image) is a :class:`DatasetError` that names
the file and says to replace or delete it, whether it happens at build time (``in_memory``) or
inside a ``DataLoader`` worker (per-image loading); a PIL ``OSError`` alone names no file.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from lamoo_nas.supernet.errors import DatasetError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
"""File name endings that count as images (compared in lower case)."""

DECODE_ERRORS = (
    OSError,  # includes PIL.UnidentifiedImageError and "Truncated File Read"
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    struct.error,
    Image.DecompressionBombError,
)
"""What PIL raises for a file it cannot decode."""

_MAX_NAMED = 5  # folders named in one message; the rest are counted


def class_folders(split: Path) -> list[str]:
    """Sorted names of the class folders of ``split`` (hidden ones skipped); at least one."""
    names = sorted(e.name for e in split.iterdir() if e.is_dir() and not e.name.startswith("."))
    if not names:
        raise DatasetError(
            f"imagefolder: {str(split)!r} has no class folders; expected {str(split)!r}/<class>/"
            "<image>, one sub-folder per class"
        )
    return names


def scan(split: Path, class_to_idx: dict[str, int]) -> tuple[list[str], np.ndarray]:
    """``(image paths, int64 labels)`` of the classes ``class_to_idx`` under ``split``.

    Raises :class:`DatasetError` naming every class folder that holds no image file.
    """
    paths: list[str] = []
    labels: list[int] = []
    empty: list[Path] = []
    for name in sorted(class_to_idx):
        found = _images_under(split / name)
        if not found:
            empty.append(split / name)
        paths.extend(found)
        labels.extend([class_to_idx[name]] * len(found))
    if empty:
        raise DatasetError(
            f"imagefolder: {_named(empty)} holds no image file ({', '.join(IMAGE_EXTENSIONS)}); "
            "add images or delete the folder (every class folder is a class)"
        )
    return paths, np.asarray(labels, dtype=np.int64)


def require_two_per_class(split: Path, class_names: list[str], labels: np.ndarray) -> None:
    """Raise :class:`DatasetError` naming the class folders with fewer than 2 images: the
    validation split is carved out of each class, so a single image cannot be in both."""
    counts = np.bincount(labels, minlength=len(class_names))
    few = [split / name for name, count in zip(class_names, counts) if count < 2]
    if few:
        raise DatasetError(
            f"imagefolder: {_named(few)} holds a single image; every class needs at least 2 in "
            f"{str(split)!r}, one for training and one for the validation split carved out of it "
            "(data.val_fraction); add images or delete that class folder"
        )


def open_image(path: str) -> Image.Image:
    """``PIL.Image.open(path)`` (header only), raising :class:`DatasetError` naming the file."""
    try:
        return Image.open(path)
    except DECODE_ERRORS as err:
        raise undecodable(path, err) from err


def read_rgb(path: str) -> Image.Image:
    """The decoded file as an RGB PIL image (grayscale and palette images become 3 channels).

    Raises :class:`DatasetError` naming the file if it cannot be read or decoded.

    Example:
        >>> read_rgb("data/train/cat/0.png").mode  # doctest: +SKIP
        'RGB'
    """
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except DECODE_ERRORS as err:
        raise undecodable(path, err) from err


def undecodable(path: str, err: BaseException) -> DatasetError:
    """The error for an image file PIL cannot decode."""
    return DatasetError(
        f"imagefolder: cannot decode image file {path!r} ({type(err).__name__}: {err}); "
        "replace or delete that file"
    )


def _images_under(folder: Path) -> list[str]:
    found: list[tuple[str, list[str]]] = []
    for parent, folders, files in os.walk(folder, followlinks=True):
        folders[:] = [name for name in folders if not name.startswith(".")]
        images = [
            name
            for name in files
            if not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)
        ]
        found.append((parent, sorted(images)))
    return [os.path.join(parent, name) for parent, names in sorted(found) for name in names]


def _named(folders: list[Path]) -> str:
    shown = ", ".join(repr(str(folder)) for folder in folders[:_MAX_NAMED])
    more = len(folders) - _MAX_NAMED
    if len(folders) == 1:
        return f"class folder {shown}"
    return f"class folders {shown}" + (f" and {more} more" if more > 0 else "") + " each"
