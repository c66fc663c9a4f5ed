"""Streaming, atomic output in CSV, JSON Lines or Parquet.

Output goes to a temporary file beside the target and is renamed into place only when
the run completes: an interrupted run (an exception, Ctrl-C, a kill) never leaves a
partial file at the output path, and a previous file there stays whole. A kill -9 can
leave the hidden temporary ``.NAME.*.part`` file behind, never the target.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from ._files import default_mode
from .errors import InputError

OUTPUT_FORMATS = ("csv", "jsonl", "parquet")


def output_format(path: str | None, fmt: str | None) -> str:
    """The output format: ``fmt`` if given, else from the output file's extension, else csv."""
    if fmt:
        return fmt
    if path and path != "-":
        suffix = Path(path).suffix.lower().lstrip(".")
        return {"jsonl": "jsonl", "ndjson": "jsonl", "parquet": "parquet"}.get(suffix, "csv")
    return "csv"


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path that replaces ``path`` when the block completes."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    try:
        os.chmod(tmp, default_mode())  # mkstemp makes 0600 files
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_text_output(path: str | Path | None) -> Iterator[io.TextIOBase]:
    """A text stream that becomes ``path`` when the block completes (stdout for None or ``-``)."""
    if path is None or str(path) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        yield fh


class FrameWriter:
    """Write scored DataFrame chunks in one format.

    Parameters
    ----------
    path : str or None
        Output file; None or ``-`` writes CSV or JSON Lines to standard output.
    fmt : {"csv", "jsonl", "parquet"}
    columns : list of str
        Output columns, in order.

    Use as a context manager; the file appears only if the block completes.
    """

    def __init__(self, path, fmt, columns):
        if fmt not in OUTPUT_FORMATS:
            raise InputError(f"unknown output format {fmt!r}; use csv, jsonl or parquet")
        if fmt == "parquet" and (path is None or str(path) == "-"):
            raise InputError("parquet output needs a file: pass -o FILE.parquet")
        self.path, self.fmt, self.columns = path, fmt, list(columns)
        self._stack = contextlib.ExitStack()
        self._header = True
        self._parquet = None

    def __enter__(self):
        if self.fmt == "parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise InputError(
                    "parquet output needs pyarrow: pip install 'coercion-classifier[parquet]'"
                ) from None
            self._tmp = self._stack.enter_context(atomic_path(self.path))
        else:
            self._stream = self._stack.enter_context(atomic_text_output(self.path))
        return self

    def __exit__(self, *exc):
        if self._parquet is not None:
            self._parquet.close()
        elif self.fmt == "parquet" and exc[0] is None:
            self._write_parquet(self._empty())  # an empty run still writes a valid file
            self._parquet.close()
        return self._stack.__exit__(*exc)

    def _empty(self):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in self.columns})

    def write(self, frame: pd.DataFrame) -> None:
        """Append one chunk (only ``columns``, in order)."""
        frame = frame[self.columns]
        if self.fmt == "csv":
            out = frame.copy()
            out["score"] = [f"{s:.6f}" if s == s else "" for s in frame["score"].tolist()]
            out["flagged"] = [
                "" if f is None else ("true" if f else "false") for f in frame["flagged"].tolist()
            ]
            if "truncated" in out:
                out["truncated"] = ["true" if t else "false" for t in frame["truncated"].tolist()]
            out.to_csv(self._stream, header=self._header, index=False, lineterminator="\n")
        elif self.fmt == "jsonl":
            records = frame.astype(object).where(frame.notna(), None).to_dict("records")
            self._stream.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        else:
            self._write_parquet(frame)
        self._header = False

    def _write_parquet(self, frame):
        import pyarrow as pa
        import pyarrow.parquet as pq

        types = {"row": pa.int64(), "score": pa.float64(), "flagged": pa.bool_(), "truncated": pa.bool_()}
        schema = pa.schema([(c, types.get(c, pa.string())) for c in self.columns])
        data = {
            c: (
                frame[c].astype(object).where(frame[c].notna(), None).tolist()
                if c != "score"
                else frame[c].to_numpy(np.float64)
            )
            for c in self.columns
        }
        table = pa.table(data, schema=schema)
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(self._tmp, schema)
        self._parquet.write_table(table)
