import pytest

from classifier.errors import DataError
from classifier.labels import COLUMNS, condition_matrix, load_store, read_labelled, summarize, validate

from .conftest import tiny_rows, write_store


def _problems(tmp_path, rows, columns=None, name="x.csv"):
    path = write_store(tmp_path / name, rows, **({"columns": columns} if columns else {}))
    df, problems = read_labelled([path])
    return problems + (validate(df) if len(df) else [])


def test_valid_store_loads(tiny_store):
    df = load_store([tiny_store])
    assert len(df) == 30 and set(df["label"]) == {0, 1}
    counts = summarize(df)
    assert counts["by_label"] == {"0": 15, "1": 15}
    assert counts["by_lang"] == {"en": 10, "ru": 10, "uk": 10}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"label": "2"}, "label must be 0 or 1"),
        ({"label": "yes"}, "label must be 0 or 1"),
        ({"lang": "de"}, "lang must be one of"),
        ({"category": "spam"}, "unknown category"),
        ({"category": "scam"}, "label 1 needs category coerced_appeal"),
        ({"text": ""}, "empty text"),
        ({"text": "\u200b\u200b"}, "empty after normalisation"),
        ({"source": ""}, "empty source"),
        ({"group": " "}, "empty group"),
        ({"style": "stt|bold"}, "unknown style tag"),
        ({"writer": ""}, "empty writer"),
        ({"captive_voice": "0"}, "captive_voice=0 contradicts category coerced_appeal"),
        ({"urges_pressure": "yes"}, "urges_pressure must be 0, 1 or empty"),
        ({"contrast": "captive_voice"}, "a contrast twin is label 0 with captive_voice=0"),
        ({"contrast": "tone"}, "contrast must be one of"),
    ],
)
def test_each_bad_value_is_reported_with_its_line(tmp_path, change, message):
    rows = tiny_rows()
    rows[2].update(change)  # a positive; the header is line 1, so this is line 4
    problems = _problems(tmp_path, rows)
    assert any(message in p.message and p.line == 4 for p in problems), problems


def test_negative_with_positive_category(tmp_path):
    rows = tiny_rows()
    rows[20]["category"] = "coerced_appeal"
    assert any("needs label 1" in p.message for p in _problems(tmp_path, rows))


def test_duplicates_and_conflicts(tmp_path):
    rows = tiny_rows()
    dup = dict(rows[0], group="dup")
    dup["text"] = dup["text"].upper() + "  "  # same after normalisation
    conflict = dict(rows[1], label=0, category="everyday", group="c")
    problems = _problems(tmp_path, [*rows, dup, conflict])
    messages = [str(p) for p in problems]
    assert any("duplicate of" in m and ":2" in m for m in messages), messages
    assert any("conflicting label" in m for m in messages), messages


def test_missing_column(tmp_path):
    problems = _problems(tmp_path, tiny_rows(), columns=["text", "label", "lang", "category", "source"])
    assert len(problems) == 1 and "missing column(s) group" in problems[0].message


def test_not_utf8_and_bad_quoting(tmp_path):
    path = tmp_path / "cp.csv"
    path.write_bytes(
        b"text,label,lang,category,source,group,writer\n"
        + "мама,1,uk,coerced_appeal,s,g,w\n".encode("cp1251")
    )
    _df, problems = read_labelled([path])
    assert "not UTF-8" in problems[0].message and problems[0].line == 2
    path = tmp_path / "q.csv"
    path.write_text(
        'text,label,lang,category,source,group,writer\n"unterminated,1,uk,coerced_appeal,s,g,w\n',
        encoding="utf-8",
    )
    _df, problems = read_labelled([path])
    assert problems and "malformed CSV" in problems[0].message


def test_load_store_refuses_bad_store_and_missing_path(tmp_path):
    rows = tiny_rows()
    rows[0]["label"] = "x"
    write_store(tmp_path / "bad" / "a.csv", rows)
    with pytest.raises(DataError, match="labels check"):
        load_store([tmp_path / "bad"])
    with pytest.raises(DataError, match="no such file or folder"):
        load_store([tmp_path / "nope"])


@pytest.mark.parametrize(
    ("category", "cells", "message"),
    [
        ("proof_of_life", {"urges_pressure": "1"}, "urges_pressure=1 contradicts category proof_of_life"),
        ("family_rally", {"captive_voice": "1"}, "captive_voice=1 contradicts category family_rally"),
        ("everyday", {"captive_voice": "1", "addressed_home": "1", "urges_pressure": "1"}, "all three"),
        ("front_soldier", {"contrast": "urges_pressure", "urges_pressure": "1"}, "contrast twin"),
    ],
)
def test_conditions_must_agree_with_label_and_category(tmp_path, category, cells, message):
    rows = tiny_rows()
    rows[20].update(category=category, **cells)  # a negative
    problems = _problems(tmp_path, rows, columns=COLUMNS)
    assert any(message in p.message for p in problems), problems


def test_a_twin_that_fails_its_named_condition_is_valid(tmp_path):
    rows = tiny_rows()
    rows[20].update(category="front_soldier", contrast="captive_voice", group=rows[0]["group"])
    assert _problems(tmp_path, rows, columns=COLUMNS) == []


def test_store_without_writer_column_says_how_to_fix(tmp_path):
    problems = _problems(tmp_path, tiny_rows(), columns=[c for c in COLUMNS if c != "writer"])
    assert "missing column(s) writer" in problems[0].message and "add a writer column" in problems[0].message


def test_conditions_are_filled_from_the_category_where_the_guide_fixes_them():
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame(
        {
            "category": ["coerced_appeal", "proof_of_life", "front_soldier", "everyday"],
            "addressed_home": ["", "", "0", ""],
        }
    )
    got = condition_matrix(frame)
    np.testing.assert_array_equal(got[:2], [[1, 1, 1], [1, 1, 0]])
    assert got[2, 0] == 0 and got[2, 1] == 0 and np.isnan(got[2, 2])
    assert np.isnan(got[3]).all()
