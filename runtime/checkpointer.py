"""A generic checkpointer: any set of stateful parts, saved and restored by name.

A training run registers what it must resume (the model, the optimisation, the step's own
state, the RNGs, the progress counters) as parts with ``state_dict`` / ``load_state_dict``;
:meth:`Checkpointer.state` gathers them under their names next to a fixed ``header`` (format
tag, space, config...), :meth:`Checkpointer.restore` hands each part its entry back. New
training state is one more part in the one place a run builds its checkpointer. Parts listed in
``flat`` contribute several top-level keys (the optimisation: ``optimizer``, ``scheduler``,
``scaler``, ``ema``; the progress: ``epoch``, ``step``, ``batch_in_epoch``) and receive the
whole checkpoint back.

Example:
    >>> net = torch.nn.Linear(2, 1)
    >>> ckpt = Checkpointer({"model": net}, header={"format": "demo"}).state()
    >>> sorted(ckpt)
    ['format', 'model']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import torch

from lamoo_nas.supernet.errors import CheckpointError


class Stateful(Protocol):
    """Anything a checkpoint can hold: ``state_dict()`` out, ``load_state_dict(state)`` in."""

    def state_dict(self) -> Any: ...

    def load_state_dict(self, state: Any) -> Any: ...


class TorchRNG:
    """torch's global CPU (and CUDA) generators as a part: dropout and weight init draw there.

    ``extra`` (e.g. the supernet step, for its architecture generator) is stored beside them;
    ``loader()`` describes how the data order is derived (informational, recomputed on resume).
    """

    def __init__(
        self,
        extra: Stateful | None = None,
        loader: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.extra = extra
        self.loader = loader

    def state_dict(self) -> dict[str, Any]:
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
        out: dict[str, Any] = {"torch": torch.get_rng_state(), "cuda": list(cuda)}
        if self.extra is not None:
            out.update(self.extra.state_dict())
        if self.loader is not None:
            out["loader"] = self.loader()
        return out

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        torch.set_rng_state(state["torch"].cpu())
        if state.get("cuda") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
        if self.extra is not None:
            self.extra.load_state_dict(dict(state))


class Checkpointer:
    """Gathers and restores named parts (see the module docstring)."""

    def __init__(
        self,
        parts: Mapping[str, Stateful],
        header: Mapping[str, Any] | None = None,
        flat: Sequence[Stateful] = (),
    ) -> None:
        self.parts = dict(parts)
        self.header = dict(header or {})
        self.flat = list(flat)

    def state(self) -> dict[str, Any]:
        """The checkpoint: header, then every part's state (plain data, ``weights_only``-safe)."""
        out = dict(self.header)
        for part in self.flat:
            out.update(part.state_dict())
        for name, part in self.parts.items():
            out[name] = part.state_dict()
        return out

    def restore(self, checkpoint: Mapping[str, Any]) -> None:
        """Load every part from ``checkpoint``; a missing entry raises :class:`CheckpointError`."""
        missing = [name for name in self.parts if name not in checkpoint]
        if missing:
            raise CheckpointError(f"the checkpoint lacks {missing}; it was written by another run")
        for name, part in self.parts.items():
            part.load_state_dict(checkpoint[name])
        for part in self.flat:
            part.load_state_dict(dict(checkpoint))


def weights_are_finite(model: torch.nn.Module) -> bool:
    """True if no parameter or floating buffer holds NaN or inf."""
    return all(
        bool(torch.isfinite(t).all())
        for t in [*model.parameters(), *model.buffers()]
        if t.is_floating_point()
    )


def non_finite_tensors(state: Mapping[str, Any]) -> list[str]:
    """Names of the floating tensors of a state dict that hold NaN or inf."""
    return [
        name
        for name, t in state.items()
        if torch.is_tensor(t) and t.is_floating_point() and not bool(torch.isfinite(t).all())
    ]
