import pytest

from classifier.errors import DataError
from classifier.labels import load_store, read_labelled, summarize, validate

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
        b"text,label,lang,category,source,group\n" + "мама,1,uk,coerced_appeal,s,g\n".encode("cp1251")
    )
    _df, problems = read_labelled([path])
    assert "not UTF-8" in problems[0].message and problems[0].line == 2
    path = tmp_path / "q.csv"
    path.write_text(
        'text,label,lang,category,source,group\n"unterminated,1,uk,coerced_appeal,s,g\n', encoding="utf-8"
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
