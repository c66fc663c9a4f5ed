"""Atomic output: write to a temporary file beside the target, rename when complete.

An interrupted run (an exception, Ctrl-C, a kill) never leaves a partial file at the
output path: the previous file, if any, stays whole.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ._files import default_mode


@contextlib.contextmanager
def atomic_text_output(path: str | Path | None) -> Iterator[io.TextIOBase]:
    """Open a text stream that becomes ``path`` only when the block completes.

    Parameters
    ----------
    path : str, Path or None
        Target file; ``None`` or ``-`` writes to standard output instead.

    Yields
    ------
    text stream (UTF-8, ``newline=""`` as the csv module wants)
    """
    if path is None or str(path) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        os.chmod(tmp, default_mode())  # mkstemp makes 0600 files
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class CsvRowWriter:
    """Write dict rows as CSV with a fixed header."""

    def __init__(self, stream, columns):
        self.columns = list(columns)
        self._writer = csv.DictWriter(
            stream, fieldnames=self.columns, extrasaction="ignore", lineterminator="\n"
        )
        self._writer.writeheader()

    def write_frame(self, frame) -> None:
        """Write every row of a DataFrame (only the header's columns)."""
        self._writer.writerows(frame.to_dict("records"))
