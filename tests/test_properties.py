"""Property tests (Hypothesis): hostile Unicode and random file structure never break the tool."""

import io
import json
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
