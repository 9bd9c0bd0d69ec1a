"""Export a trained static subnet: checkpoint, TorchScript, ONNX, arch and metrics JSON.

:func:`export_model` writes one folder::

    model.pt               {"format": "lamoo-nas/exported-model", "version", "state_dict",
                            "arch", "space", "num_classes", "metrics"}; weights_only=True loads it
    model.torchscript.pt   torch.jit.trace of the eval-mode model; plain ``torch.jit.load``
    model.pt2              torch.export ExportedProgram (dynamic batch); ``torch.export.load``,
                           then ``.module()``: the format that replaces TorchScript
    model.onnx             opset 18, dynamic batch axis, input ``"input"``, output ``"logits"``
    arch.json              the architecture JSON (names its space and fingerprint)
    metrics.json           whatever metrics were passed (``{}`` otherwise)
    preprocessing.json     how an image becomes the input (class names, colour, resize, crop,
                           mean/std, data config), when given; also inside ``model.pt``

Everything is written into a temporary sibling folder first and renamed into place, so a
reader never sees half an export. An existing non-empty target raises
:class:`ExportExistsError` unless ``overwrite=True``.

Example:
    >>> space = load_space("tiny")
    >>> net = build_static(space, space.smallest(), num_classes=10)
    >>> paths = export_model(net, space.smallest(), space, 10, "out/export")  # doctest: +SKIP
    >>> paths.onnx.name  # doctest: +SKIP
    'model.onnx'
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lamoo_nas.evaluate.errors import ExportError, ExportExistsError
from lamoo_nas.supernet.space import ArchConfig, SearchSpace

EXPORT_FORMAT = "lamoo-nas/exported-model"
EXPORT_VERSION = 1
CHECKPOINT_NAME = "model.pt"
TORCHSCRIPT_NAME = "model.torchscript.pt"
EXPORTED_PROGRAM_NAME = "model.pt2"
ONNX_NAME = "model.onnx"
ARCH_NAME = "arch.json"
METRICS_NAME = "metrics.json"
PREPROCESSING_NAME = "preprocessing.json"
ONNX_OPSET = 18
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


@dataclass(frozen=True)
class ExportPaths:
    """The files of one export folder (see the module docstring)."""

    root: Path
    checkpoint: Path
    torchscript: Path
    exported_program: Path
    onnx: Path
    arch_json: Path
    metrics_json: Path

    @classmethod
    def under(cls, root: str | Path) -> ExportPaths:
        root = Path(root)
        return cls(
            root=root,
            checkpoint=root / CHECKPOINT_NAME,
            torchscript=root / TORCHSCRIPT_NAME,
            exported_program=root / EXPORTED_PROGRAM_NAME,
            onnx=root / ONNX_NAME,
            arch_json=root / ARCH_NAME,
            metrics_json=root / METRICS_NAME,
        )


def export_model(
    model: nn.Module,
    arch: ArchConfig,
    space: SearchSpace,
    num_classes: int,
    out_dir: str | Path,
    metrics: Mapping[str, Any] | None = None,
    example_resolution: int | None = None,
    overwrite: bool = False,
    preprocessing: Mapping[str, Any] | None = None,
) -> ExportPaths:
    """Write ``model`` (a static subnet of ``arch``) to ``out_dir`` in every format.

    ``example_resolution`` (default ``arch.resolution``) sets the traced input size. The model
    is copied to the CPU in eval mode; the caller's module is left as it was.
    ``preprocessing`` (:func:`runtime.data.preprocessing_spec`: class names, resize, crop,
    normalisation, data config) goes into ``model.pt`` and ``preprocessing.json``, so the model
    can be fed an image without this project.

    Example:
        >>> export_model(net, arch, space, 10, "runs/r1/export", {"top1": 0.98})  # doctest: +SKIP
    """
    space.validate(arch)
    target = Path(out_dir)
    check_export_target(target, overwrite)
    resolution = example_resolution or arch.resolution
    net = copy.deepcopy(model).cpu().eval()
    example = torch.randn(2, 3, resolution, resolution, generator=torch.Generator().manual_seed(0))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        paths = ExportPaths.under(tmp)
        _write_checkpoint(net, arch, space, num_classes, metrics, paths.checkpoint, preprocessing)
        _write_torchscript(net, example, paths.torchscript)
        _write_exported_program(net, example, paths.exported_program)
        _write_onnx(net, example, paths.onnx)
        arch_text = json.dumps(space.arch_to_json(arch), indent=2) + "\n"
        paths.arch_json.write_text(arch_text)
        paths.metrics_json.write_text(json.dumps(dict(metrics or {}), indent=2) + "\n")
        if preprocessing is not None:
            text = json.dumps(dict(preprocessing), indent=2) + "\n"
            (tmp / PREPROCESSING_NAME).write_text(text)
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it 0700: a plain folder like any other
        _move_into_place(tmp, target, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExportPaths.under(target)


def check_export_target(target: Path, overwrite: bool) -> None:
    """Raise :class:`ExportExistsError` if ``target`` holds files and ``overwrite`` is false."""
    if overwrite or not target.exists():
        return
    if target.is_dir() and not any(target.iterdir()):
        return
    raise ExportExistsError(
        f"export target {target} already exists; pass overwrite=True "
        "(export.overwrite=true on the command line) to replace it, or choose another folder"
    )


def _move_into_place(tmp: Path, target: Path, overwrite: bool) -> None:
    if target.exists():
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()
        elif overwrite:
            trash = target.with_name(f".{target.name}.old")
            shutil.rmtree(trash, ignore_errors=True)
            target.rename(trash)
            tmp.rename(target)
            shutil.rmtree(trash, ignore_errors=True)
            return
        else:  # appeared while we were writing
            check_export_target(target, overwrite)
    tmp.rename(target)


def checkpoint_dict(
    model: nn.Module,
    arch: ArchConfig,
    space: SearchSpace,
    num_classes: int,
    metrics: Mapping[str, Any] | None,
    preprocessing: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The self-describing ``model.pt`` content (plain containers and CPU tensors)."""
    extra = (
        {} if preprocessing is None else {"preprocessing": json.loads(json.dumps(preprocessing))}
    )
    return {
        **extra,
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "arch": space.arch_to_json(arch),
        "space": space.to_dict(),
        "space_fingerprint": space.fingerprint,
        "num_classes": int(num_classes),
        "metrics": json.loads(json.dumps(dict(metrics or {}))),
    }


def _write_checkpoint(
    net: nn.Module,
    arch: ArchConfig,
    space: SearchSpace,
    num_classes: int,
    metrics: Mapping[str, Any] | None,
    path: Path,
    preprocessing: Mapping[str, Any] | None = None,
) -> None:
    torch.save(checkpoint_dict(net, arch, space, num_classes, metrics, preprocessing), path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_torchscript(net: nn.Module, example: torch.Tensor, path: Path) -> None:
    """Trace (a static subnet has no data-dependent control flow) and check a new batch size."""
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(net, example, check_trace=False)
            expected = net(example[:1])
            if not torch.allclose(traced(example[:1]), expected, atol=1e-5, rtol=1e-4):
                raise ExportError("the traced TorchScript model disagrees with the model")
            torch.jit.save(traced, str(path))
    except (RuntimeError, TypeError) as err:
        raise ExportError(f"TorchScript export failed: {err}") from err


def _write_exported_program(net: nn.Module, example: torch.Tensor, path: Path) -> None:
    """``torch.export`` with a dynamic batch dimension, checked on a batch of one."""
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            batch = torch.export.Dim("batch")
            program = torch.export.export(net, (example,), dynamic_shapes=({0: batch},))
            agrees = torch.allclose(
                program.module()(example[:1]), net(example[:1]), atol=1e-5, rtol=1e-4
            )
    except Exception as err:  # torch.export raises many unrelated types
        raise ExportError(f"torch.export failed: {type(err).__name__}: {err}") from err
    if not agrees:
        raise ExportError("the torch.export program disagrees with the model")
    torch.export.save(program, str(path))


def _write_onnx(net: nn.Module, example: torch.Tensor, path: Path) -> None:
    """The TorchScript-based exporter (fast, dynamic batch); dynamo's where that one is gone."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                net,
                (example,),
                str(path),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                opset_version=ONNX_OPSET,
                dynamo=False,
            )
            return
        except (TypeError, RuntimeError, NotImplementedError):
            pass
        try:
            batch = torch.export.Dim("batch")
            torch.onnx.export(
                net,
                (example,),
                str(path),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes=({0: batch},),
                opset_version=ONNX_OPSET,
                dynamo=True,
            )
        except Exception as err:  # the dynamo exporter raises many unrelated types
            raise ExportError(f"ONNX export failed: {type(err).__name__}: {err}") from err
