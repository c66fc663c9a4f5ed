"""Helpers shared by the benchmark scripts (not part of the package)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPORA = ROOT.parent / "shared" / "corpora"
sys.path.insert(0, str(ROOT))


def corpora_files() -> list[Path]:
    """The real public corpora next to the repository (see ../shared/corpora/README.md)."""
    return sorted(CORPORA.glob("*.csv"))
