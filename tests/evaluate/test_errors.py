from __future__ import annotations

import pytest

from lamoo_nas.evaluate import errors
from lamoo_nas.evaluate.export import ExportError, ExportExistsError
from lamoo_nas.evaluate.ground_truth import GroundTruthError
from lamoo_nas.evaluate.load import NotAnExportError
from lamoo_nas.evaluate.rank import RankInputError
from lamoo_nas.supernet.errors import CheckpointError, NASError


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
