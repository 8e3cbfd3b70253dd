"""Shared fixtures: where the read-only corpus lives (``../shared`` beside the checkout), and the
small copy of it the unit tests need (``tests/data/corpus``, present in every clone)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PLUTO_SHARED", REPO.parent / "shared"))
CORPUS = SHARED / "corpus"
CORPUS_DATA = REPO / "tests" / "data" / "corpus"
# Lines a test wants shown after the run (e.g. the corpus admission counts), by section title.
REPORT: dict[str, list[str]] = {}


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared corpus folder; tests that need it skip where it is absent."""
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not present")
    return CORPUS


@pytest.fixture(scope="session")
def corpus_data() -> Path:
    """The unit tests' slice of the corpus, kept in the repository (see its README.md)."""
    return CORPUS_DATA


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what tests put in ``REPORT``: figures worth seeing in every run, not only with -s."""
    for title, lines in REPORT.items():
        terminalreporter.write_sep("-", title)
        for line in lines:
            terminalreporter.write_line(line)
