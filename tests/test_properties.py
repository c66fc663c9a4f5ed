"""Property tests (Hypothesis): hostile Unicode and random file structure never break the tool."""

import csv
import io
import json
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classifier import readers
from classifier.errors import InputError
from classifier.normalize import normalize_text, normalize_texts
from classifier.readers import Input

HOSTILE = st.sampled_from(
    list("\u0301\u0308\u200b\u200c\u200d\u200e\u200f\u202e\u2066\u00ad\ufeff\x00\t\n\r\u2028\u3000")
    + list("аеорсхіїєґыэъёAEOPCXIiМмТтВв0123456789 !?.,'’«»")
    + ["\U0001f600", "\U000e0041", "\ue000", "\ud83d"]
)
TEXT = st.one_of(st.text(max_size=200), st.lists(HOSTILE, max_size=80).map("".join))
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(st.lists(TEXT, max_size=8))
def test_normalisation_never_crashes_is_idempotent_and_batch_independent(texts):
    once = normalize_texts(texts)
    assert len(once) == len(texts)
    assert normalize_texts(once) == once
    assert once == [normalize_text(t) for t in texts]
    assert all("\ue000" not in t and "\u200b" not in t for t in once)


@SETTINGS
@given(st.lists(TEXT, min_size=1, max_size=8), st.lists(TEXT, max_size=4))
def test_same_text_same_score_whatever_the_batch(tiny_model, texts, others):
    alone = tiny_model.predict_proba(texts)
    mixed = tiny_model.predict_proba(others + texts)[len(others) :]
    np.testing.assert_array_equal(alone, mixed)
    assert np.all((alone >= 0) & (alone <= 1))


def _records(name, data, **kw):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            return list(Input(path, **kw).records())
        except InputError:
            return None  # an unusable file is refused with a message, which is allowed


@SETTINGS
@given(st.binary(max_size=400), st.sampled_from([None, "utf-8", "cp1251", "koi8-u", "utf-16"]))
def test_txt_arbitrary_bytes_one_record_per_line(data, encoding):
    records = _records("m.txt", data, encoding=encoding)
    if records is None:
        return
    assert [r.row for r in records] == list(range(1, len(records) + 1))
    assert all((r.text is None) == bool(r.error) or r.error == "empty text" for r in records)


@SETTINGS
@given(
    st.lists(
        st.lists(st.text(alphabet=st.sampled_from(list('ab,"\n\r x\u0456')), max_size=6), max_size=4),
        max_size=6,
    )
)
def test_csv_random_structure_never_crashes(rows):
    body = "text,id\n" + "\n".join(",".join(cells) for cells in rows) + "\n"
    records = _records("m.csv", body.encode("utf-8"), id_column="id")
    if records is not None:
        assert [r.row for r in records] == list(range(1, len(records) + 1))


@SETTINGS
@given(
    st.lists(
        st.one_of(
            st.dictionaries(st.sampled_from(["text", "id", "x"]), TEXT | st.integers() | st.none()), TEXT
        ),
        max_size=8,
    )
)
def test_jsonl_random_lines_one_record_each(items):
    lines = [json.dumps({"text": "first"})] + [
        json.dumps(i) if isinstance(i, dict) else i.replace("\n", " ") for i in items
    ]
    records = _records("m.jsonl", "\n".join(lines).encode("utf-8", "surrogatepass"))
    text = "\n".join(lines)
    assert records is not None  # the first line is a valid object, so the file is usable
    assert len(records) == len(io.StringIO(text, newline="").readlines())


def _csv_rows_by_the_csv_module(data: str, delimiter: str):
    """What the plain csv module makes of ``data``: per record (text, id), 'error' or 'fields'.

    'fields': no text field, or more fields than the header's two (an error row).
    """
    reader = csv.reader(io.StringIO(data, newline=""), delimiter=delimiter, strict=True)
    next(reader)  # the header
    rows = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return rows
        except csv.Error:
            rows.append("error")
            continue
        rows.append((row[0], row[1] if len(row) > 1 else None) if 0 < len(row) <= 2 else "fields")


CSV_CHARS = st.sampled_from(list('ab",\t\r\n \x00'))


@SETTINGS
@given(
    st.one_of(
        st.lists(st.lists(st.text(CSV_CHARS, max_size=30), min_size=1, max_size=4), max_size=6).map(
            lambda rows: [("structured", r) for r in rows]
        ),
        st.text(CSV_CHARS, max_size=120),
    ),
    st.sampled_from([",", "\t"]),
)
def test_csv_records_cut_to_the_cap_match_the_csv_module(monkeypatch, body, delimiter):
    """Long records are cut field by field; everything else reads as the csv module reads it."""
    if isinstance(body, list):
        buf = io.StringIO()
        csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerows(r for _, r in body)
        body = buf.getvalue()
    data = f"text{delimiter}id\n" + body
    expected = _csv_rows_by_the_csv_module(data, delimiter)
    # tiny limits so that random records cross them, and pieces split everything
    limits = {"MAX_CHARS": 5, "_MAX_RECORD": 12, "_MAX_HANDED_ON": 10**6, "_PIECE": 7}
    limits["_RUN_ON_LINES"] = 10**6  # stray-quote recovery has tests of its own
    for name, value in limits.items():
        monkeypatch.setattr(readers, name, value)
    monkeypatch.setattr(readers._BoundedRecords, "failed", lambda self: None)
    got = list(readers._read_delimited(io.StringIO(data, newline=""), "m.csv", delimiter, "text", "id"))
    assert len(got) == len(expected)
    for record, want in zip(got, expected, strict=True):
        if want == "error":
            assert record.error.startswith("malformed CSV")
        elif want == "fields":
            assert "fields" in record.error
        elif "\x00" in want[0][:5]:
            assert "NUL" in record.error  # never scored as text
        else:
            assert record.text == want[0][:5]
            assert record.truncated or len(want[0]) <= 5
            if not record.truncated:
                assert record.id == want[1]


@SETTINGS
@given(
    st.lists(st.one_of(TEXT.filter(lambda t: "\ud83d" not in t), st.none(), st.integers()), max_size=30),
    st.integers(1, 7),
)
def test_parquet_random_cells_one_record_per_row(cells, row_group):
    import pyarrow as pa
    import pyarrow.parquet as pq

    strings = [c if isinstance(c, str) or c is None else str(c) for c in cells]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.parquet"
        table = pa.table({"text": pa.array(strings, pa.string()), "id": pa.array(range(len(cells)))})
        pq.write_table(table, path, row_group_size=row_group)
        records = list(Input(path, id_column="id").records())
    assert [r.row for r in records] == list(range(1, len(cells) + 1))
    assert [r.id for r in records] == [str(i) for i in range(len(cells))]
    for record, text in zip(records, strings, strict=True):
        if text is None or not text.strip():
            assert record.error.startswith("empty text")
        else:
            assert record.text == text and not record.error


@SETTINGS
@given(st.binary(max_size=300))
def test_parquet_arbitrary_bytes_are_refused_cleanly(data):
    records = _records("m.parquet", b"PAR1" + data + b"PAR1")
    assert records is None or all(isinstance(r.row, int) for r in records)


@SETTINGS
@given(
    st.lists(st.text(st.sampled_from(list("ab іх 1.")), min_size=1, max_size=12), min_size=1, max_size=45),
    st.data(),
)
def test_csv_stray_quote_loses_no_record(texts, data):
    """An unclosed quote at the start of one record's text: that record is an error, every other is read."""
    stray = data.draw(st.integers(0, len(texts) - 1))
    lines = [f"{i},{chr(34) if i == stray else ''}{t}" for i, t in enumerate(texts)]
    got = list(
        readers._read_delimited(
            io.StringIO("id,text\n" + "\n".join(lines) + "\n"), "m.csv", ",", "text", "id"
        )
    )
    assert [r.row for r in got] == list(range(1, len(texts) + 1))
    for i, (record, text) in enumerate(zip(got, texts, strict=True)):
        if i == stray:
            assert record.error.startswith("malformed CSV at line")
        elif text.strip():
            assert (record.id, record.text, record.error) == (str(i), text, "")
