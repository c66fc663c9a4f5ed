"""The label store: read the labelled CSVs, validate them, summarise them.

The store is a folder of UTF-8 CSV files (``datasets/labelled/*.csv``), one row per
labelled message. ``datasets/README.md`` is the labelling guide and data card.
Validation reports every problem with its file and line, so that an analyst can go
straight to the row; training refuses a store that has any.
"""

from __future__ import annotations

import csv
import hashlib
import io
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError, counted
from .normalize import normalize_texts

REQUIRED_COLUMNS = ("text", "label", "lang", "category", "source", "group", "writer")
CONDITIONS = ("captive_voice", "addressed_home", "urges_pressure")
OPTIONAL_COLUMNS = ("added", "annotator", "style", "supersedes", *CONDITIONS, "contrast")
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

POSITIVE_CATEGORY = "coerced_appeal"
NEGATIVE_CATEGORIES = (
    "proof_of_life",
    "captive_practical",
    "family_rally",
    "report_about_pattern",
    "official_warning",
    "unrelated_protest",
    "front_soldier",
    "scam",
    "related_captive_statement",
    "everyday",
    "unsorted",  # label 0 added by an analyst who did not give a category
)
CATEGORIES = (POSITIVE_CATEGORY, *NEGATIVE_CATEGORIES)
LANGS = ("uk", "ru", "en", "mixed", "other")
STYLES = (
    "stt",
    "typos",
    "caps",
    "emoji",
    "chat",
    "formal",
    "translit",
    "long",
    "short",
    "meta",  # chat-export prefix, forwarded header, timestamp or sender name
    "implicit",  # captivity only implied
    "other_conflict",
    "salad",  # repeated words or a keyword salad
    "sarcasm",  # sarcasm or rhetorical questions
)

# The guide's three conditions as the category fixes them: (captive_voice, addressed_home,
# urges_pressure), None where the category allows either value. A label 1 row has all
# three; a label 0 row fails at least one.
FIXED_CONDITIONS = {
    "coerced_appeal": (1, 1, 1),
    "proof_of_life": (1, 1, 0),
    "captive_practical": (1, 1, 0),
    "family_rally": (0, None, 1),
    "front_soldier": (0, None, None),
    "official_warning": (0, None, 0),
    "scam": (0, None, 0),
    "report_about_pattern": (0, None, None),
    "related_captive_statement": (1, None, None),
    "unrelated_protest": (0, None, None),
    "everyday": (None, None, None),
    "unsorted": (None, None, None),
}

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the store, located to a file and line."""

    file: str
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        col = f" [{self.column}]" if self.column else ""
        return f"{where}{col}: {self.message}"


def store_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and folders into the sorted list of CSV files they name.

    Raises
    ------
    DataError
        If a path does not exist or a folder holds no CSV file.
    """
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.glob("*.csv"))
            if not found:
                raise DataError(f"{p}: no .csv files in this folder; pass a folder of labelled CSVs")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise DataError(f"{p}: no such file or folder; run from the repository root or pass --data PATH")
    return files


def _read_one(path: Path, problems: list[Problem]) -> pd.DataFrame | None:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        problems.append(
            Problem(
                str(path),
                line,
                "",
                f"byte {exc.start} (column {col}) is not UTF-8; re-save the file as UTF-8",
            )
        )
        return None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        problems.append(Problem(str(path), 1, "", "empty file; a labelled CSV needs a header row"))
        return None
    except csv.Error as exc:
        problems.append(Problem(str(path), 1, "", f"unreadable header ({exc})"))
        return None
    header = [h.strip() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        hint = "; add a writer column naming who wrote each row" if "writer" in missing else ""
        problems.append(
            Problem(
                str(path),
                1,
                "",
                f"missing column(s) {', '.join(missing)}; the header has: {', '.join(header)}{hint}",
            )
        )
        return None
    rows, lines = [], []
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(Problem(str(path), start, "", f"malformed CSV ({exc}); check the quoting"))
            break
        if row:
            if len(row) != len(header):
                problems.append(
                    Problem(str(path), start, "", f"{len(row)} fields where the header has {len(header)}")
                )
            else:
                rows.append(row)
                lines.append(start)
        start = reader.line_num + 1
    df = pd.DataFrame(rows, columns=header, dtype=object)
    for col in OPTIONAL_COLUMNS:
        if col not in df.columns:
            df[col] = ""
    df["file"] = str(path)
    df["line"] = lines
    return df


def read_labelled(paths: Iterable[str | Path]) -> tuple[pd.DataFrame, list[Problem]]:
    """Read labelled CSVs without validating their content.

    Parameters
    ----------
    paths : iterable of path-like
        CSV files or folders of them.

    Returns
    -------
    frame : pandas.DataFrame
        All rows, with the store's columns plus ``file`` and ``line`` (1-based line of
        the row's first physical line) for error messages.
    problems : list of Problem
        Files that could not be read at all, or rows that could not be parsed.
    """
    problems: list[Problem] = []
    frames = [f for f in (_read_one(p, problems) for p in store_files(paths)) if f is not None]
    if not frames:
        return pd.DataFrame(columns=[*list(COLUMNS), "file", "line"]), problems
    df = pd.concat(frames, ignore_index=True)
    return df, problems


def row_problems(row, key: str | None = None) -> list[tuple[str, str]]:
    """What is wrong with one row on its own (column, message), as ``labels check`` reports it.

    The checks of :func:`validate` that need no other row: required values present,
    ``label`` is 0 or 1, allowed ``lang`` and ``category``, the category agrees with the
    label, known ``style`` tags, the condition columns (:func:`condition_problems`), and a
    text that is not empty after normalisation. ``labels add`` runs it on every new row
    as it would be stored, so that it never stores a row the check would refuse.

    Parameters
    ----------
    row : mapping
        The row's cells (a dict or a frame row); missing optional columns count as empty.
    key : str, optional
        The row's normalised text, when the caller has it already (batches are faster).
    """
    out: list[tuple[str, str]] = []

    def cell(column):
        value = row.get(column, "")
        return "" if value is None else str(value)

    for col in REQUIRED_COLUMNS:
        if not cell(col).strip():
            out.append((col, f"empty {col}"))
    label = cell("label").strip()
    category = cell("category").strip()
    lang = cell("lang")
    if label not in ("0", "1"):
        out.append(("label", f"label must be 0 or 1, got {label!r}"))
    if lang not in LANGS:
        out.append(("lang", f"lang must be one of {', '.join(LANGS)}, got {lang!r}"))
    if category not in CATEGORIES:
        out.append(("category", f"unknown category {category!r}; allowed: {', '.join(CATEGORIES)}"))
    elif label == "1" and category != POSITIVE_CATEGORY:
        out.append(("category", f"label 1 needs category {POSITIVE_CATEGORY}, got {category!r}"))
    elif label == "0" and category == POSITIVE_CATEGORY:
        out.append(("category", f"category {POSITIVE_CATEGORY} needs label 1, got 0"))
    styles = [s for s in cell("style").split("|") if s]
    unknown = [s for s in styles if s not in STYLES]
    if unknown:
        out.append(("style", f"unknown style tag(s) {', '.join(unknown)}; allowed: {', '.join(STYLES)}"))
    out.extend(condition_problems(row, label, category))
    text = cell("text")
    if text.strip():
        if key is None:
            key = normalize_texts([text])[0]
        if not key:
            out.append(("text", "text is empty after normalisation (only invisible characters)"))
    return out


def validate(df: pd.DataFrame) -> list[Problem]:
    """Every content problem in a store read by :func:`read_labelled`.

    Checks every row on its own (:func:`row_problems`: required values present,
    ``label`` is 0 or 1, ``lang`` and ``category`` are allowed values, the category
    agrees with the label, ``style`` tags are known, the three condition columns agree
    with the label and category, no text that normalises to nothing), then across rows:
    ``supersedes`` names a row with the same text, no duplicate texts (after
    normalisation) and no text stored with conflicting labels.
    """
    problems: list[Problem] = []
    # plain lists and dicts: per-cell pandas access made this the slowest step of `train`
    rows = df.to_dict("records")
    files = [str(f) for f in df["file"]] if "file" in df.columns else [""] * len(rows)
    lines = [int(n) for n in df["line"]] if "line" in df.columns else [0] * len(rows)

    def add(i, column, message):
        problems.append(Problem(files[i], lines[i], column, message))

    norm = normalize_texts(df["text"].astype(str).tolist())
    for i, row in enumerate(rows):
        for column, message in row_problems(row, norm[i]):
            add(i, column, message)

    where_of = {f"{Path(files[i]).name}:{lines[i]}": i for i in range(len(rows))}
    superseded = set()
    for i, row in enumerate(rows):
        ref = str(row.get("supersedes", "")).strip()
        if not ref:
            continue
        j = where_of.get(ref)
        if j is None:
            add(i, "supersedes", f"supersedes {ref!r}, which is not a row of the store (use FILE.csv:LINE)")
        elif norm[j] != norm[i]:
            add(i, "supersedes", f"supersedes {ref}, which holds a different text")
        else:
            superseded.add(j)
    first: dict[str, int] = {}
    for i, key in enumerate(norm):
        if not key:  # reported by row_problems
            continue
        if i in superseded:
            continue
        if key in first:
            j = first[key]
            where = f"{files[j]}:{lines[j]}"
            if str(rows[i]["label"]).strip() != str(rows[j]["label"]).strip():
                add(i, "text", f"same text as {where} with a conflicting label")
            else:
                add(i, "text", f"duplicate of {where}")
        else:
            first[key] = i
    return problems


def condition_problems(row, label: str, category: str) -> list[tuple[str, str]]:
    """What is wrong with a row's three condition cells and ``contrast`` (column, message).

    A cell is ``0``, ``1`` or empty (unknown). It must agree with the value the category
    fixes (:data:`FIXED_CONDITIONS`); a label 0 row cannot meet all three; a contrast
    twin names the one condition it fails.
    """
    out = []
    values = {}
    fixed = FIXED_CONDITIONS.get(category, (None, None, None))
    for column, must in zip(CONDITIONS, fixed, strict=True):
        cell = str(row.get(column, "")).strip()
        if cell not in ("", "0", "1"):
            out.append((column, f"{column} must be 0, 1 or empty, got {cell!r}"))
            continue
        if cell and must is not None and int(cell) != must:
            out.append((column, f"{column}={cell} contradicts category {category}, which needs {must}"))
        values[column] = int(cell) if cell else must
    if label == "0" and all(values.get(c) == 1 for c in CONDITIONS):
        out.append(("label", "label 0 but all three conditions are 1; fix the label or a condition"))
    contrast = str(row.get("contrast", "")).strip()
    if contrast:
        if contrast not in CONDITIONS:
            out.append(("contrast", f"contrast must be one of {', '.join(CONDITIONS)}, got {contrast!r}"))
        elif label != "0" or values.get(contrast) != 0:
            out.append(("contrast", f"a contrast twin is label 0 with {contrast}=0"))
    return out


def condition_matrix(df: pd.DataFrame) -> np.ndarray:
    """The three conditions of every row as floats: 1.0, 0.0, or NaN when unknown.

    Empty cells take the value the row's category fixes (:data:`FIXED_CONDITIONS`), so
    rows labelled before the condition columns existed still teach the heads what their
    category says.

    Examples
    --------
    >>> frame = pd.DataFrame({"category": ["coerced_appeal", "family_rally", "everyday"],
    ...                       "captive_voice": ["", "", "0"]})
    >>> condition_matrix(frame).tolist()
    [[1.0, 1.0, 1.0], [0.0, nan, 1.0], [0.0, nan, nan]]
    """
    out = np.full((len(df), len(CONDITIONS)), np.nan)
    for j, column in enumerate(CONDITIONS):
        cells = df[column].astype(str).str.strip() if column in df.columns else pd.Series([""] * len(df))
        fixed = [FIXED_CONDITIONS.get(c, (None,) * 3)[j] for c in df["category"]]
        for i, (cell, must) in enumerate(zip(cells, fixed, strict=True)):
            if cell in ("0", "1"):
                out[i, j] = float(cell)
            elif must is not None:
                out[i, j] = float(must)
    return out


def superseded_rows(df: pd.DataFrame) -> pd.Series:
    """Boolean mask of rows that a later row replaces (``supersedes`` = ``FILE.csv:LINE``)."""
    refs = {str(r).strip() for r in df["supersedes"] if str(r).strip()}
    keys = [f"{Path(f).name}:{line}" for f, line in zip(df["file"], df["line"], strict=True)]
    return pd.Series([k in refs for k in keys], index=df.index)


def load_store(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Read and validate the store; the clean frame, with ``label`` as int.

    Raises
    ------
    DataError
        Listing the first problems found (``coercion-classifier labels check`` lists all).
    """
    df, problems = read_labelled(paths)
    problems += validate(df) if len(df) else []
    if problems:
        shown = "; ".join(str(p) for p in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise DataError(
            f"the label store has {counted(len(problems), 'problem')}: {shown}{more}; "
            "run 'coercion-classifier labels check' to list them all"
        )
    if not len(df):
        raise DataError("the label store is empty; add labelled CSV files to datasets/labelled/")
    df = df[~superseded_rows(df)].reset_index(drop=True)  # kept on disk, not trained on
    df["label"] = df["label"].astype(int)
    return df


def summarize(df: pd.DataFrame) -> dict:
    """Counts by label, language, category and label x language."""
    labels = df["label"].astype(str)
    return {
        "rows": len(df),
        "by_label": labels.value_counts().sort_index().to_dict(),
        "by_lang": df["lang"].value_counts().sort_index().to_dict(),
        "by_category": df["category"].value_counts().sort_index().to_dict(),
        "by_writer": df["writer"].value_counts().sort_index().to_dict() if "writer" in df else {},
        "by_label_lang": {
            f"{lab}/{lang}": int(n) for (lab, lang), n in df.groupby([labels, df["lang"]]).size().items()
        },
    }


def data_sha256(files: Iterable[str | Path]) -> str:
    """SHA-256 over the names and bytes of the given files, in sorted order."""
    digest = hashlib.sha256()
    for p in sorted(Path(f) for f in files):
        digest.update(p.name.encode() + b"\0")
        digest.update(p.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()
