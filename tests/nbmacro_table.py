"""Where the tests find the NAS-Bench-Macro table: ``$NBMACRO_DIR`` or ``../shared/data/nbmacro``
beside the checkout (CI has it); the tests that need it skip, saying why, when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TABLE_NAME = "nas-bench-macro_cifar10.json"


def nbmacro_table_path() -> Path:
    default = Path(__file__).parents[1].parent / "shared" / "data" / "nbmacro"
    path = Path(os.environ.get("NBMACRO_DIR", default)) / TABLE_NAME
    if not path.is_file():
        pytest.skip(f"no NAS-Bench-Macro table at {path} (set NBMACRO_DIR)")
    return path
