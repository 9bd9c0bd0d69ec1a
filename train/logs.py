"""Logging hooks: console progress bar, TensorBoard, ``metrics.csv`` / ``metrics.jsonl`` and a
training-curve PNG, all in the run directory (rank 0 only).

Example:
    >>> hooks = [ProgressHook(100, enabled=True), MetricsLogger(Path("run"))]  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from lamoo_nas.runtime.io import atomic_write_text
from lamoo_nas.train.loop import HookBase

CSV_NAME = "metrics.csv"
JSONL_NAME = "metrics.jsonl"
PLOT_NAME = "training_curve.png"
BASE_FIELDS = ("epoch", "step", "train_loss", "lr", "img_per_s", "epoch_time_s")


class ProgressHook(HookBase):
    """A tqdm bar over all steps; off when ``enabled`` is false or stderr is not a TTY."""

    def __init__(self, total_steps: int, enabled: bool = True, desc: str = "supernet") -> None:
        self.total_steps = total_steps
        self.enabled = enabled and sys.stderr.isatty()
        self.desc = desc
        self.bar: tqdm | None = None

    def before_train(self) -> None:
        self.bar = tqdm(
            total=self.total_steps,
            initial=self.trainer.state.step,
            disable=not self.enabled,
            desc=self.desc,
            dynamic_ncols=True,
        )

    def after_step(self) -> None:
        if self.bar is None:
            return
        last = self.trainer.last_step
        self.bar.update(1)
        if last is not None and self.enabled:
            self.bar.set_postfix(epoch=self.trainer.state.epoch, loss=f"{last.loss:.3f}")

    def after_train(self) -> None:
        if self.bar is not None:
            self.bar.close()


@dataclass(frozen=True)
class CurveLabels:
    """What the training-curve PNG calls its axes and its ``val_acc_<name>`` lines."""

    loss: str = "train loss (mean over the step's architectures)"
    accuracy: str = "validation top-1 of fixed subnets, % (after BN recalibration)"
    lines: tuple[tuple[str, str], ...] = ()  # (name, legend) pairs; unnamed lines keep theirs


SUPERNET_CURVES = CurveLabels()
RETRAIN_CURVES = CurveLabels(
    loss="train loss",
    accuracy="validation top-1, %",
    lines=(("raw", "trained weights"), ("ema", "EMA of the weights")),
)


class MetricsLogger(HookBase):
    """Per-step TensorBoard scalars; per-epoch rows in CSV, JSONL and TensorBoard; a PNG."""

    def __init__(
        self,
        run_dir: Path,
        log_every_steps: int = 10,
        tensorboard: bool = True,
        labels: CurveLabels = SUPERNET_CURVES,
    ) -> None:
        self.labels = labels
        self.run_dir = Path(run_dir)
        self.log_every_steps = max(1, log_every_steps)
        self.tensorboard = tensorboard
        self.writer: Any = None

    def before_train(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._drop_rows_after(self.trainer.state.epoch)
        if self.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.run_dir / "tensorboard"))

    def after_step(self) -> None:
        t, last = self.trainer, self.trainer.last_step
        if self.writer is None or last is None or t.state.step % self.log_every_steps:
            return
        self.writer.add_scalar("train/loss", last.loss, t.state.step)
        self.writer.add_scalar("train/loss_first_arch", last.teacher_loss, t.state.step)
        self.writer.add_scalar("train/lr", t.step.optimisation.lr, t.state.step)
        self.writer.add_scalar("train/grad_norm", last.grad_norm, t.state.step)

    def after_epoch(self) -> None:
        t = self.trainer
        row: dict[str, Any] = {
            "epoch": t.state.epoch,
            "step": t.state.step,
            "train_loss": round(t.stats.mean_loss, 6),
            "lr": t.step.optimisation.lr,
            "img_per_s": round(t.stats.images_per_s, 2),
            "epoch_time_s": round(t.stats.seconds, 3),
            **{k: round(v, 6) for k, v in sorted(t.stats.scalars.items())},
        }
        self._append(row)
        if self.writer is not None:
            for key, value in row.items():
                if key not in ("epoch", "step"):
                    self.writer.add_scalar(f"epoch/{key}", value, t.state.epoch)
            self.writer.flush()
        summary = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in row.items())  # fmt: skip
        print(f"[epoch {t.state.epoch}/{t.epochs}] {summary}", flush=True)

    def after_train(self) -> None:
        if self.writer is not None:
            self.writer.close()
        plot_curves(read_metrics(self.run_dir), self.run_dir / PLOT_NAME, self.labels)

    # ------------------------------------------------------------------ files
    def _append(self, row: dict[str, Any]) -> None:
        rows = [*read_metrics(self.run_dir), row]
        self._write(rows)

    def _drop_rows_after(self, epoch: int) -> None:
        rows = read_metrics(self.run_dir)
        kept = [r for r in rows if int(r["epoch"]) <= epoch]
        if len(kept) != len(rows):
            self._write(kept)

    def _write(self, rows: list[dict[str, Any]]) -> None:
        atomic_write_text(self.run_dir / JSONL_NAME, "".join(json.dumps(r) + "\n" for r in rows))
        fields = list(BASE_FIELDS) + sorted({k for r in rows for k in r} - set(BASE_FIELDS))
        lines: list[str] = []
        writer = csv.DictWriter(_ListWriter(lines), fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.run_dir / CSV_NAME, "".join(lines))


class _ListWriter:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def write(self, text: str) -> None:
        self.lines.append(text)


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The per-epoch rows of ``metrics.jsonl`` (empty if there is none yet)."""
    path = Path(run_dir) / JSONL_NAME
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_curves(
    rows: list[dict[str, Any]], path: Path, labels: CurveLabels = SUPERNET_CURVES
) -> Path | None:
    """Train loss and validation accuracies per epoch, as a PNG."""
    if not rows:
        return None
    curve_figure(rows, labels).savefig(path, dpi=100)
    return path


def curve_figure(rows: list[dict[str, Any]], labels: CurveLabels = SUPERNET_CURVES) -> Any:
    """The matplotlib ``Figure`` of :func:`plot_curves` (loss left, accuracies right)."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed

    epochs = [r["epoch"] for r in rows]
    fig = Figure(figsize=(10, 4))
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(epochs, [r["train_loss"] for r in rows], marker="o")
    ax_loss.set(xlabel="epoch", ylabel=labels.loss)
    legends = dict(labels.lines)
    for key in sorted(k for k in rows[-1] if k.startswith("val_acc_")):
        points = [(r["epoch"], 100 * r[key]) for r in rows if key in r]
        name = key.removeprefix("val_acc_")
        ax_acc.plot(*zip(*points), marker="o", label=legends.get(name, name))
    ax_acc.set(xlabel="epoch", ylabel=labels.accuracy)
    if ax_acc.lines:
        ax_acc.legend()
    fig.tight_layout()
    return fig
