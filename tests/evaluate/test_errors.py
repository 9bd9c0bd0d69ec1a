from __future__ import annotations

import pytest

from evaluate import errors
from evaluate.export import ExportError, ExportExistsError
from evaluate.ground_truth import GroundTruthError
from evaluate.load import NotAnExportError
from evaluate.rank import RankInputError
from supernet.errors import CheckpointError, NASError


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (ExportExistsError, FileExistsError),
        (ExportError, RuntimeError),
        (NotAnExportError, CheckpointError),
        (RankInputError, ValueError),
        (GroundTruthError, ValueError),
    ],
)
def test_each_error_is_an_evaluate_error_and_keeps_its_old_base(error, builtin) -> None:
    assert issubclass(error, errors.EvaluateError) and issubclass(error, builtin)
    assert getattr(errors, error.__name__) is error  # defined once, re-exported where it was


def test_the_root_is_the_project_root() -> None:
    assert issubclass(errors.EvaluateError, NASError)
    assert issubclass(errors.AccuracyCacheMismatchError, errors.EvaluateError)
