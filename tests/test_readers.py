"""Readers: every format, compression and encoding; every row yields a record."""

import contextlib
import gzip
import json
import os
import random
import threading
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest

from classifier import readers
from classifier.errors import InputError
from classifier.readers import MAX_CHARS, Input, detect_encoding, expand_inputs, read_records

UK = "Мамо, я живий, виходьте на Майдан: нас тут покинули"
RU = "Мама, я живой, выходите на Майдан: нас тут бросили"


def _rows(path, **kw):
    return [(r.row, r.text, r.id, r.error) for r in read_records(path, **kw)]


def test_txt_lines_bom_crlf_empty(tmp_path):
    p = tmp_path / "m.txt"
    p.write_bytes("\ufeffперше\r\n\r\nтретє\n   \nп'яте".encode())
    rows = _rows(p)
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0][1] == "перше" and rows[2][1] == "третє" and rows[4][1] == "п'яте"
    assert rows[1][3] == rows[3][3] == "empty text"


def test_empty_file_has_no_rows(tmp_path):
    for name in ("e.txt", "e.csv", "e.jsonl"):
        (tmp_path / name).write_bytes(b"")
        assert _rows(tmp_path / name) == []


def test_undecodable_line_gets_error_others_survive(tmp_path):
    p = tmp_path / "m.txt"
    p.write_bytes(
        ("добре, все добре, тут багато тексту українською " * 5 + "\n").encode() + b"\xff\xfe bad\n" + b"ok\n"
    )
    rows = _rows(p)
    assert len(rows) == 3
    assert rows[1][1] is None and "undecodable bytes at column 1" in rows[1][3]
    assert rows[0][3] == rows[2][3] == ""


@pytest.mark.parametrize(
    ("encoding", "text", "expected"),
    [
        ("utf-8", UK, "utf-8"),
        ("utf-8-sig", UK, "utf-8-sig"),
        ("utf-16", UK, "utf-16"),
        ("utf-32", RU, "utf-32"),
        ("cp1251", UK, "cp1251"),
        ("cp1251", RU, "cp1251"),
        ("koi8-u", UK, "koi8-u"),
        ("koi8-r", RU, "koi8-u"),
    ],
)
def test_encodings_detected_and_decoded(tmp_path, encoding, text, expected):
    p = tmp_path / "m.txt"
    p.write_bytes(f"{text}\r\n{text.upper()}\n".encode(encoding))
    source = Input(p)
    rows = [(r.text, r.error) for r in source.records()]
    assert rows == [(text, ""), (text.upper(), "")]
    assert source.encoding == expected


def test_encoding_option_overrides_detection_and_bad_name_is_refused(tmp_path):
    p = tmp_path / "m.txt"
    p.write_bytes("ґанок".encode("koi8-u"))
    assert [r.text for r in read_records(p, encoding="koi8-u")] == ["ґанок"]
    with pytest.raises(InputError, match="unknown encoding 'klingon'"):
        Input(p, encoding="klingon")


def test_detect_encoding_tolerates_a_cut_character():
    data = ("привіт " * 100).encode()
    assert detect_encoding(data[:-1]) == "utf-8"


def test_five_megabyte_single_line(tmp_path):
    p = tmp_path / "big.txt"
    line = ("нас тут тримають " * 300_000)[: 5 * 1024 * 1024]
    p.write_text(line + "\nкоротко\n", encoding="utf-8")
    records = list(read_records(p))
    assert len(records) == 2 and records[1].text == "коротко" and not records[1].truncated
    assert records[0].truncated and records[0].text == line[:MAX_CHARS]


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
        Input(p).check()


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
    p = tmp_path / "m.ndjson"
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
    assert rows[4][3] == "field 'text' is a JSON number, not a string"
    assert rows[5][3] == "no field 'text'"
    assert rows[6] == (7, "тато", "4", "")


def test_jsonl_missing_field_in_first_record_lists_fields(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text('{"message": "x", "id": 1}\n', encoding="utf-8")
    with pytest.raises(InputError, match="the fields are: message, id"):
        Input(p).check()


def test_parquet_with_nulls_and_ids(tmp_path):
    p = tmp_path / "m.parquet"
    pd.DataFrame({"body": ["мамо", None, "тато"], "mid": [10, 11, 12]}).to_parquet(p)
    assert _rows(p, text_column="body", id_column="mid") == [
        (1, "мамо", "10", ""),
        (2, None, "11", "empty text (null)"),
        (3, "тато", "12", ""),
    ]
    with pytest.raises(InputError, match="the columns are: body, mid"):
        Input(p).check()


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("m.txt.gz", "мамо\nтато\n"),
        ("m.csv.gz", "text\nмамо\nтато\n"),
        ("m.jsonl.gz", '{"text": "мамо"}\n{"text": "тато"}\n'),
        ("m.txt", "мамо\nтато\n"),  # gzip recognised by content, whatever the name
    ],
)
def test_gzip_inputs(tmp_path, name, content):
    p = tmp_path / name
    p.write_bytes(gzip.compress(content.encode("utf-8")))
    assert [r.text for r in read_records(p)] == ["мамо", "тато"]


def test_truncated_gzip_is_a_clear_error(tmp_path):
    p = tmp_path / "m.txt.gz"
    p.write_bytes(gzip.compress(("рядок\n" * 10000).encode())[:200])
    with pytest.raises(InputError, match="cannot read"):
        list(read_records(p))


def test_by_file_folder(tmp_path):
    folder = tmp_path / "transcripts"
    folder.mkdir()
    (folder / "a.txt").write_text("перший\nтранскрипт\n", encoding="utf-8")
    (folder / "b.txt").write_bytes("другий".encode("cp1251"))
    (folder / "c.txt").write_bytes(b"")
    (folder / "notes.md").write_text("ignored")
    records = list(Input(folder, by_file=True).records())
    assert [
        (r.row, r.text, r.error, r.source.endswith(f"{n}.txt")) for r, n in zip(records, "abc", strict=True)
    ] == [
        (1, "перший\nтранскрипт", "", True),
        (2, "другий", "", True),
        (3, "", "empty text", True),
    ]
    with pytest.raises(InputError, match="--by-file needs a folder"):
        Input(folder / "a.txt", by_file=True)


def test_expand_globs(tmp_path):
    for name in ("b.txt", "a.txt", "c.csv"):
        (tmp_path / name).write_text("x")
    assert expand_inputs([str(tmp_path / "*.txt")]) == [str(tmp_path / "a.txt"), str(tmp_path / "b.txt")]
    with pytest.raises(InputError, match="no file matches"):
        expand_inputs([str(tmp_path / "*.jsonl")])


@pytest.mark.parametrize(
    ("name", "message"),
    [("m.docx", "unknown file type '.docx'"), ("nope.txt", "no such file"), ("dir", "is a folder")],
)
def test_unusable_inputs(tmp_path, name, message):
    if name == "m.docx":
        (tmp_path / name).write_text("x")
    if name == "dir":
        (tmp_path / name).mkdir()
    with pytest.raises(InputError, match=message):
        Input(tmp_path / name)


def _peak_python_memory(func):
    """Run ``func``; return its result and the peak memory Python allocated meanwhile."""
    tracemalloc.start()
    try:
        result = func()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _gzip_members(path, member: bytes, count: int, tail: bytes = b""):
    """A gzip file of ``count`` copies of one member: tiny on disk, huge decompressed."""
    one = gzip.compress(member, compresslevel=9)
    with open(path, "wb") as fh:
        for _ in range(count):
            fh.write(one)
        fh.write(gzip.compress(tail))


@pytest.mark.slow
def test_single_100_megabyte_line_costs_bounded_memory(tmp_path):
    p = tmp_path / "line.txt"
    with open(p, "wb") as fh:
        for _ in range(100):
            fh.write("нас тут тримають, ".encode() * 40_000)  # 1.1 MB, no newline
        fh.write(b"\nok\n")
    records, peak = _peak_python_memory(lambda: list(read_records(p)))
    assert [(r.row, r.truncated, len(r.text)) for r in records] == [(1, True, MAX_CHARS), (2, False, 2)]
    assert peak < 16 << 20  # the input is 110 MB


@pytest.mark.slow
def test_csv_50_megabyte_field_costs_bounded_memory(tmp_path):
    p = tmp_path / "big.csv"
    piece = 'Мамо, "виходьте" на\nМайдан; '
    repeats = 50_000_000 // len(piece.encode())
    with open(p, "w", encoding="utf-8", newline="") as fh:
        fh.write('id,text,lang\n1,"')
        for _ in range(repeats // 1000):
            fh.write(piece.replace('"', '""') * 1000)
        fh.write('",uk\n2,коротко,uk\n3,"ще ""одне""",uk\n')
    assert p.stat().st_size > 50_000_000
    records, peak = _peak_python_memory(lambda: list(read_records(p, id_column="id")))
    assert [(r.row, r.id, r.truncated, r.error) for r in records] == [
        (1, "1", True, ""),
        (2, "2", False, ""),
        (3, "3", False, ""),
    ]
    assert records[0].text == (piece * (MAX_CHARS // len(piece) + 1))[:MAX_CHARS]
    assert [r.text for r in records[1:]] == ["коротко", 'ще "одне"']
    assert peak < 24 << 20


@pytest.mark.slow
def test_gzip_bomb_is_refused_early_with_bounded_memory(tmp_path):
    p = tmp_path / "bomb.txt.gz"
    _gzip_members(p, b"a" * (1 << 20), 10_000)  # 10 GB of one line from 10 MB on disk
    assert p.stat().st_size < 12_000_000

    def read():
        with pytest.raises(InputError, match=r"expands more than 200 times .* decompression bomb"):
            list(read_records(p))

    _, peak = _peak_python_memory(read)
    assert peak < 16 << 20


@pytest.mark.slow
def test_long_gzip_line_is_one_truncated_row(tmp_path):
    rng = random.Random(5)
    words = (UK + " " + RU).split()
    line = " ".join(rng.choice(words) for _ in range(1_000_000))  # 10 MB, compresses ~4 times
    p = tmp_path / "long.txt.gz"
    p.write_bytes(gzip.compress((line + "\nok\n").encode(), compresslevel=1))
    records, peak = _peak_python_memory(lambda: list(read_records(p)))
    assert [(r.row, r.truncated, len(r.text)) for r in records] == [(1, True, MAX_CHARS), (2, False, 2)]
    assert peak < 16 << 20


def test_by_file_gzip_bomb_reads_only_the_start(tmp_path):
    folder = tmp_path / "msgs"
    folder.mkdir()
    _gzip_members(folder / "a.txt.gz", "мамо ".encode() * 200_000, 1_000)  # 1 GB from 1 MB
    (folder / "b.txt.gz").write_bytes(gzip.compress("тату".encode()))
    (folder / "c.txt.gz").write_bytes(gzip.compress("обрізано".encode())[:-12])
    records, peak = _peak_python_memory(lambda: list(Input(folder, by_file=True).records()))
    assert [(r.row, r.truncated, len(r.text or "")) for r in records[:2]] == [
        (1, True, MAX_CHARS),
        (2, False, 4),
    ]
    assert records[2].error.startswith("cannot decompress")
    assert peak < 16 << 20


@pytest.mark.slow
def test_ten_million_empty_lines_are_ten_million_error_rows(tmp_path):
    p = tmp_path / "empty.txt"  # gzip-compressed, it would be refused as a bomb
    p.write_bytes(b"\n" * 10_000_000)
    n = 0
    for n, record in enumerate(read_records(p), start=1):  # noqa: B007 - counting
        assert record.error == "empty text"
    assert n == 10_000_000


@pytest.mark.slow
def test_csv_record_of_countless_small_fields_is_cut_and_the_next_survives(tmp_path):
    p = tmp_path / "wide.csv"
    p.write_text("text,id\nпершийрядок,1" + ",x" * 3_000_000 + "\nдругий,2\n", encoding="utf-8")
    records, peak = _peak_python_memory(lambda: list(read_records(p, id_column="id")))
    assert [(r.row, r.text, r.id) for r in records] == [(1, None, "1"), (2, "другий", "2")]
    assert records[0].error.startswith("line 2 has at least ") and "the header has 2" in records[0].error
    assert not records[1].error
    assert peak < 24 << 20  # the record is 6 MB; the csv module would hold 3 million fields


def test_malformed_csv_line_numbers_count_physical_lines(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text('text\n"two\nlines"\n"bad "quote"\nok\n', encoding="utf-8")
    rows = _rows(p)
    assert rows[0] == (1, "two\nlines", None, "")
    assert rows[1][3].startswith("malformed CSV at line 4")
    assert rows[2] == (3, "ok", None, "")


# --- issue 11: pipes and FIFOs, stray quotes, mixed encodings, hostile JSON, bombs --------


def _lines_of(n):
    return "".join(f"повідомлення номер {i}\n" for i in range(1, n + 1)).encode()


def _read_in_thread(func, timeout=30):
    """Run ``func`` in a thread; its result, or an AssertionError if it hangs."""
    box = {}
    thread = threading.Thread(target=lambda: box.update(result=func()), daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "reading hung"
    return box["result"]


def test_fifo_is_opened_once_and_checked_rows_are_scored(tmp_path):
    fifo = tmp_path / "feed.txt"
    os.mkfifo(fifo)
    data = _lines_of(20_000)

    def write():
        try:
            with open(fifo, "wb") as fh:
                fh.write(data)
        except BrokenPipeError:
            pass

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        # as the CLI does: one Input to check, another to score
        _read_in_thread(lambda: Input(fifo).check())
        rows = _read_in_thread(lambda: [(r.row, r.text) for r in Input(fifo).records()])
    finally:
        with contextlib.suppress(OSError):  # release a reader that hangs on open()
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert len(rows) == 20_000
    assert rows[0] == (1, "повідомлення номер 1") and rows[-1] == (20_000, "повідомлення номер 20000")


@pytest.mark.parametrize("lines", [3, 20_000])
def test_pipe_file_descriptor_keeps_the_checked_start(lines):
    r, w = os.pipe()
    data = _lines_of(lines)

    def write():
        with open(w, "wb") as fh:
            fh.write(data)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        path = f"/dev/fd/{r}"  # what the shell passes for <(cat file)
        _read_in_thread(lambda: Input(path, fmt="txt").check())
        rows = _read_in_thread(lambda: [r.row for r in Input(path, fmt="txt").records()])
    finally:
        os.close(r)
    assert rows == list(range(1, lines + 1))


def test_csv_pipe_missing_column_is_refused_by_the_check():
    r, w = os.pipe()
    with open(w, "wb") as fh:
        fh.write(b"id,message\n1,x\n")
    try:
        with pytest.raises(InputError, match="no column 'text'"):
            Input(f"/dev/fd/{r}", fmt="csv").check()
    finally:
        os.close(r)


def _stray_quote_csv(path):
    lines = ["id,text", '1,"Мамо, я живий'] + [f"{i},повідомлення {i}" for i in range(2, 1000)]
    lines += ['1000,кінець"', "1001,далі"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_csv_stray_quote_is_an_error_and_the_records_after_it_are_read(tmp_path):
    p = tmp_path / "m.csv"
    _stray_quote_csv(p)
    rows = _rows(p, id_column="id")
    assert len(rows) == 1001  # one per record line
    assert rows[0][:3] == (1, None, "1")
    assert "line 2" in rows[0][3] and "stray quote" in rows[0][3]
    assert rows[1] == (2, "повідомлення 2", "2", "")
    assert rows[997] == (998, "повідомлення 998", "998", "")
    assert rows[-1] == (1001, "далі", "1001", "")


def test_csv_genuine_multi_line_messages_stay_one_row(tmp_path):
    p = tmp_path / "m.csv"
    letter = "\n".join(f"рядок {i}, і ще трохи тексту" for i in range(40))  # commas, but one field
    p.write_text(
        f'id,text,lang\n1,"Мамо,\nя живий,\nвиходьте\n\nна Майдан",uk\n2,"{letter}",uk\n3,ok,uk\n',
        encoding="utf-8",
    )
    rows = _rows(p, id_column="id")
    assert rows == [
        (1, "Мамо,\nя живий,\nвиходьте\n\nна Майдан", "1", ""),
        (2, letter, "2", ""),
        (3, "ok", "3", ""),
    ]


def test_csv_record_with_more_fields_than_the_header_is_an_error(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("id,text\n1,Мамо я живий\n2,Мамо, виходьте на Майдан\n3,ok\n", encoding="utf-8")
    rows = _rows(p, id_column="id")
    assert rows[0] == (1, "Мамо я живий", "1", "")
    assert rows[1][1] is None and rows[1][2] == "2"
    assert "line 3 has 3 fields, the header has 2" in rows[1][3]
    assert rows[2] == (3, "ok", "3", "")


def test_legacy_file_with_utf8_rows_after_the_sample_decodes_them(tmp_path):
    p = tmp_path / "m.txt"
    legacy = (UK + "\n").encode("cp1251") * 2000  # > 64 KiB of cp1251
    assert len(legacy) > 1 << 16
    p.write_bytes(legacy + (RU + "\n").encode("utf-8") * 3 + "ще cp1251\n".encode("cp1251"))
    source = Input(p)
    records = list(source.records())
    assert source.encoding == "cp1251"
    assert len(records) == 2004
    assert {r.text for r in records[:2000]} == {UK}
    assert [r.text for r in records[2000:]] == [RU, RU, RU, "ще cp1251"]
    assert not any(r.error for r in records)
    assert source.recoded_rows == 3


def test_encoding_option_cp1251_on_a_utf8_stream_is_not_garbage(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text(f'id,text\n1,"{UK}"\n2,emoji 😀 тут\n', encoding="utf-8")
    source = Input(p, encoding="cp1251", id_column="id")
    assert [(r.text, r.error) for r in source.records()] == [(UK, ""), ("emoji 😀 тут", "")]
    assert source.recoded_rows == 2


def test_short_genuine_cp1251_rows_stay_cp1251(tmp_path):
    p = tmp_path / "m.txt"
    p.write_bytes("Ві\nВін пішов\n".encode("cp1251"))  # "Ві" is also valid UTF-8 ("³")
    assert [r.text for r in read_records(p, encoding="cp1251")] == ["Ві", "Він пішов"]


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_utf16_and_utf32_without_bom_are_detected(tmp_path, encoding):
    p = tmp_path / "m.txt"
    p.write_bytes(f"{UK}\n{RU}\nok\n".encode(encoding))
    source = Input(p)
    assert [(r.row, r.text, r.error) for r in source.records()] == [(1, UK, ""), (2, RU, ""), (3, "ok", "")]
    assert source.encoding == encoding


def test_nul_rich_text_is_an_error_row(tmp_path):
    p = tmp_path / "m.txt"
    p.write_bytes("добрий день, як справи\n".encode() + "мамо".encode("utf-16-le") + b"\nok\n")
    rows = _rows(p)
    assert rows[0][3] == "" and rows[2][1] == "ok"
    assert rows[1][1] is None and "control characters" in rows[1][3]


def test_jsonl_huge_integer_and_deep_nesting_are_error_rows(tmp_path):
    p = tmp_path / "m.jsonl"
    lines = [
        '{"text": "мамо", "id": 1}',
        '{"text": "x", "id": ' + "9" * 5000 + "}",
        "[" * 100_000,
        '{"text": ' + "[" * 50_000 + "]" * 50_000 + "}",
        '{"text": "тато", "id": 4}',
    ]
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = _rows(p, id_column="id")
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0] == (1, "мамо", "1", "") and rows[4] == (5, "тато", "4", "")
    assert "malformed JSON" in rows[1][3] and "digits" in rows[1][3]
    assert "nested too deeply" in rows[2][3] and "nested too deeply" in rows[3][3]


def test_jsonl_null_text_says_null(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text('{"text": "мамо"}\n{"text": null}\n', encoding="utf-8")
    assert [r[3] for r in _rows(p)] == ["", "field 'text' is null"]


def test_gzip_of_newlines_is_refused_within_the_first_mebibyte(tmp_path):
    p = tmp_path / "empty.txt.gz"
    p.write_bytes(gzip.compress(b"\n" * 16_000_000))
    assert p.stat().st_size < 20_000
    records = read_records(p)
    with pytest.raises(InputError, match=r"expands more than 200 times .* decompression bomb"):
        next(records)  # before the first row


def test_genuine_gzip_text_past_the_first_mebibyte_reads(tmp_path):
    rng = random.Random(11)
    words = UK.split() + RU.split() + ["ще", "тут", "нас", "мамо", "тато", "обмін", "полон"]
    lines = [f"{n} " + " ".join(rng.choice(words) for _ in range(12)) for n in range(60_000)]
    p = tmp_path / "m.txt.gz"
    p.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=9))
    assert len("\n".join(lines).encode()) > 4 << 20
    assert [r.text for r in read_records(p)] == lines


def _dictionary_parquet(path, value: str, rows: int):
    import pyarrow as pa
    import pyarrow.parquet as pq

    indices = pa.array([0] * rows, pa.int32())
    column = pa.DictionaryArray.from_arrays(indices, pa.array([value]))
    pq.write_table(pa.table({"text": column, "id": pa.array(range(rows))}), path, compression="zstd")


def test_parquet_dictionary_bomb_is_refused_with_bounded_memory(tmp_path):
    p = tmp_path / "bomb.parquet"
    _dictionary_parquet(p, "мамо " * 200_000, 300)  # 1 MB value, 300 MB if materialised
    assert p.stat().st_size < 10_000

    def read():
        with pytest.raises(InputError, match="parquet data expands more than 2,000 times"):
            list(read_records(p))

    _, peak = _peak_python_memory(read)
    assert peak < 32 << 20


def test_parquet_repeated_values_read_with_bounded_memory(tmp_path):
    p = tmp_path / "m.parquet"
    _dictionary_parquet(p, "мамо я живий " * 400, 20_000)  # 5 KB value: a plausible export
    source = Input(p, id_column="id")
    records, peak = _peak_python_memory(lambda: list(source.records()))
    assert len(records) == 20_000 and records[-1].id == "19999" and not records[-1].error
    assert peak < 48 << 20  # 20,000 copies would be 200 MB


def test_parquet_column_chunk_over_the_bound_is_refused(tmp_path, monkeypatch):
    p = tmp_path / "m.parquet"
    pd.DataFrame({"text": [f"{i} мамо я живий " * 100 for i in range(50)]}).to_parquet(p)
    monkeypatch.setattr(readers, "MAX_PARQUET_CHUNK", 10_000)
    with pytest.raises(InputError, match=r"row group 0 .* uncompressed, more than 10,000"):
        Input(p).check()


def test_corrupted_parquet_page_is_a_one_line_error(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "m.parquet"
    texts = [f"повідомлення {i} " * 20 for i in range(2000)]
    pq.write_table(pa.table({"text": texts}), p, compression="snappy", use_dictionary=False)
    data = bytearray(p.read_bytes())
    for i in range(200, 20_000, 7):  # scribble over the data pages, not the footer
        data[i] ^= 0x5A
    p.write_bytes(bytes(data))
    with pytest.raises(InputError, match="corrupted parquet data"):
        list(read_records(p))


def test_by_file_counts_skipped_entries_and_stays_in_the_folder(tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("не для вас", encoding="utf-8")
    folder = tmp_path / "msgs"
    folder.mkdir()
    (folder / "a.txt").write_text("перший", encoding="utf-8")
    (folder / "b.txt").symlink_to(folder / "a.txt")  # a link inside the folder is read
    (folder / "out.txt").symlink_to(outside)
    (folder / "broken.txt").symlink_to(folder / "gone.txt")
    (folder / "sub.txt").mkdir()
    os.mkfifo(folder / "pipe.txt")
    (folder / "notes.md").write_text("x")
    source = Input(folder, by_file=True)
    records = _read_in_thread(lambda: list(source.records()))
    assert [(Path(r.source).name, r.text) for r in records] == [("a.txt", "перший"), ("b.txt", "перший")]
    assert source.skipped == {
        "link out of the folder": 1,
        "broken link": 1,
        "folder": 1,
        "not a regular file": 1,
        "not .txt": 1,
    }


def test_csv_stray_quote_closed_by_a_later_quote_loses_no_record(tmp_path):
    p = tmp_path / "m.csv"
    lines = [
        "id,text,lang",
        '1,"Мамо, я живий,uk',
        "2,привіт,uk",
        "3,як справи,uk",
        '4,"ще, одне",uk',
        "5,ok,uk",
    ]
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = _rows(p, id_column="id")
    assert "line 2" in rows[0][3] and "lines 3-5" in rows[0][3] and "stray quote" in rows[0][3]
    assert rows[1:] == [
        (2, "привіт", "2", ""),
        (3, "як справи", "3", ""),
        (4, "ще, одне", "4", ""),
        (5, "ok", "5", ""),
    ]
