"""A griffe extension for the API reference: this project's docstrings head their examples
``Example:``, which Google style reads as an admonition (rendered as Markdown, so ``>>>`` lines
become quotes); renamed ``Examples:`` they are parsed as doctest examples and shown as code."""

from __future__ import annotations

import re
from typing import Any

import griffe

EXAMPLE_HEADER = re.compile(r"^(\s*)Example:\s*$", flags=re.MULTILINE)


class ExampleSections(griffe.Extension):
    """Rename every ``Example:`` section header to ``Examples:`` before parsing."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = EXAMPLE_HEADER.sub(r"\1Examples:", obj.docstring.value)
