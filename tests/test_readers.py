import json

import pytest

from classifier.errors import InputError
from classifier.readers import read_records


def _rows(path, **kw):
    return [(r.row, r.text, r.id, r.error) for r in read_records(path, **kw)]


def test_txt_lines_bom_crlf_empty(tmp_path):
    p = tmp_path / "m.txt"
    p.write_bytes("\ufeffперше\r\n\r\nтретє\n   \nп'яте".encode())
    rows = _rows(p)
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0][1] == "перше" and rows[2][1] == "третє" and rows[4][1] == "п'яте"
    assert rows[1][3] == rows[3][3] == "empty text"


def test_txt_undecodable_line_gets_error_others_survive(tmp_path):
    p = tmp_path / "m.txt"
    p.write_bytes("добре\n".encode() + "погано".encode("cp1251") + b"\n" + "теж добре\n".encode())
    rows = _rows(p)
    assert len(rows) == 3
    assert rows[1][1] is None and "undecodable bytes at column 1" in rows[1][3]
    assert rows[0][3] == rows[2][3] == ""


def test_csv_text_and_id_columns_with_quoted_newlines(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text('id,text\n7,"рядок\nз переносом"\n8,"кома, всередині"\n9,\n', encoding="utf-8")
    rows = _rows(p, id_column="id")
    assert rows == [
        (1, "рядок\nз переносом", "7", ""),
        (2, "кома, всередині", "8", ""),
        (3, "", "9", "empty text"),
    ]


def test_csv_missing_column_lists_columns(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("id,message\n1,x\n", encoding="utf-8")
    with pytest.raises(
        InputError, match=r"no column 'text'; the columns are: id, message; pass --text-column"
    ):
        list(read_records(p))


def test_csv_bad_quoting_among_good_rows(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text('text\ngood one\n"bad "quote" here\nanother good\n', encoding="utf-8")
    rows = _rows(p)
    assert rows[0] == (1, "good one", None, "")
    assert any("malformed CSV" in r[3] for r in rows)
    assert rows[-1][1] == "another good"


def test_tsv(tmp_path):
    p = tmp_path / "m.tsv"
    p.write_text("text\tid\nпривіт, як ти\t1\n", encoding="utf-8")
    assert _rows(p, id_column="id") == [(1, "привіт, як ти", "1", "")]


def test_jsonl_good_bad_and_odd_lines(tmp_path):
    p = tmp_path / "m.jsonl"
    lines = [
        json.dumps({"text": "мамо", "id": 1}, ensure_ascii=False),
        "{not json",
        "",
        json.dumps([1, 2]),
        json.dumps({"text": 5, "id": 2}),
        json.dumps({"id": 3}),
        json.dumps({"text": "тато", "id": 4}, ensure_ascii=False),
    ]
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = _rows(p, id_column="id")
    assert [r[0] for r in rows] == list(range(1, 8))
    assert rows[0] == (1, "мамо", "1", "")
    assert "malformed JSON at column 2" in rows[1][3]
    assert rows[2][3] == "empty line"
    assert "not an object" in rows[3][3]
    assert "is a int, not a string" in rows[4][3]
    assert rows[5][3] == "no field 'text'"
    assert rows[6] == (7, "тато", "4", "")


def test_jsonl_missing_field_in_first_record_lists_fields(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text('{"message": "x", "id": 1}\n', encoding="utf-8")
    with pytest.raises(InputError, match="the fields are: message, id"):
        list(read_records(p))


@pytest.mark.parametrize(
    ("name", "message"), [("m.docx", "unknown file type '.docx'"), ("nope.txt", "no such file")]
)
def test_unusable_inputs(tmp_path, name, message):
    if name.endswith(".docx"):
        (tmp_path / name).write_text("x")
    with pytest.raises(InputError, match=message):
        list(read_records(tmp_path / name))
