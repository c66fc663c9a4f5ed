"""Inputs analysts have: CSV dialects, case-insensitive headers, xlsx, nested JSONL, per-file
text columns, and input columns carried to the output (--keep, --include-text)."""

import csv
import datetime
import gc
import io
import json
import tracemalloc
import zipfile

import openpyxl
import pytest
from click.testing import CliRunner

from classifier.cli import cli
from classifier.errors import InputError
from classifier.readers import Input, read_records, sniff_delimiter

from .conftest import model_opts


def _write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def _rows(records):
    return [(r.row, r.id, r.text, r.error) for r in records]


# --- CSV dialects ---------------------------------------------------------------------


def test_semicolon_cp1251_csv_with_cyrillic_header_and_decimal_commas(tmp_path):
    text = (
        "№;ТЕКСТ;сума\r\n"
        "1;Мамо, виходьте на Майдан, нас покинули;1,5\r\n"
        '2;"рядок; з крапкою з комою";2,25\r\n'
        "3;;0,0\r\n"
    )
    path = _write(tmp_path / "export.csv", text, "cp1251")
    source = Input(path, id_column="№")
    records = list(source.records())
    assert source.encoding == "cp1251" and source.delimiter_used == ";"
    assert _rows(records) == [
        (1, "1", "Мамо, виходьте на Майдан, нас покинули", ""),
        (2, "2", "рядок; з крапкою з комою", ""),
        (3, "3", "", "empty text"),
    ]


def test_semicolon_csv_with_bom_finds_text_column_case_insensitively(tmp_path):
    path = _write(tmp_path / "e.csv", "\ufeffid;Текст\n7;привіт, мамо\n", "utf-8")
    assert _rows(read_records(path, id_column="ID")) == [(1, "7", "привіт, мамо", "")]


@pytest.mark.parametrize(("name", "delimiter"), [("tab.csv", "\t"), ("pipe.csv", "|"), ("comma.csv", ",")])
def test_delimiter_is_sniffed(tmp_path, name, delimiter):
    lines = [["id", "Text"], ["1", "a, b; c | d"], ["2", 'quoted "x"'], ["3", "line\nbreak"]]
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerows(lines)
    path = _write(tmp_path / name, buf.getvalue())
    source = Input(path)
    assert [r.text for r in source.records()] == ["a, b; c | d", 'quoted "x"', "line\nbreak"]
    assert source.delimiter_used == delimiter


def test_sniffer_prefers_the_consistent_delimiter():
    # commas inside the texts, semicolons between the fields
    sample = "id;text\n1;a, b, c\n2;d, e\n3;f\n"
    assert sniff_delimiter(sample) == ";"
    assert sniff_delimiter("text\nhello\n") == ","  # one column: any delimiter reads it
    assert sniff_delimiter('a|b\n"x|y"|z\n1|2\n') == "|"


def test_delimiter_option_overrides_the_sniffer(tmp_path):
    path = _write(tmp_path / "m.csv", "text;id\nx;1\n")
    # read with a comma the header is one column, 'text;id': no 'text' column
    with pytest.raises(InputError, match="no column 'text'"):
        list(Input(path, delimiter=",").records())
    assert [r.text for r in Input(path, delimiter=";").records()] == ["x"]
    assert [r.text for r in Input(path, delimiter="tab", text_column="text;id").records()] == ["x;1"]
    with pytest.raises(InputError, match="--delimiter"):
        Input(path, delimiter='"')


def test_a_semicolon_csv_keeps_the_bounded_reader_guarantees(tmp_path):
    # a huge field and a record with too many fields, in a ';' file
    big = "x" * 300_000
    path = _write(tmp_path / "big.csv", f"id;text\n1;{big}\n2;a;b\n3;ok\n")
    tracemalloc.start()
    records = list(read_records(path))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert records[0].truncated and len(records[0].text) == 100_000
    assert "has 3 fields, the header has 2" in records[1].error and "semicolon" in records[1].error
    assert records[2].text == "ok"
    assert peak < 20e6


# --- column names and numbers ---------------------------------------------------------


def test_ambiguous_column_is_a_one_line_error_listing_them(tmp_path):
    path = _write(tmp_path / "m.csv", "Text,TEXT\na,b\n")
    with pytest.raises(InputError) as exc:
        list(read_records(path))
    message = str(exc.value)
    assert "\n" not in message and "'Text'" in message and "'TEXT'" in message
    assert "column number" in message


def test_exact_name_wins_and_columns_by_number(tmp_path):
    path = _write(tmp_path / "m.csv", "id,text,Text\n1,exact,other\n")
    assert [r.text for r in read_records(path)] == ["exact"]
    assert _rows(read_records(path, text_column="3", id_column="1")) == [(1, "1", "other", "")]
    with pytest.raises(InputError, match=r"column 4.*3 columns"):
        list(read_records(path, text_column="4"))


# --- nested JSONL ---------------------------------------------------------------------


def test_jsonl_nested_text_field(tmp_path):
    lines = [
        {"id": 1, "message": {"body": "мамо я живий", "from": "x"}},
        {"id": 2, "message": {"body": None}},
        {"id": 3, "message": "flat"},
        {"id": 4, "message.body": "a literal dotted key"},
    ]
    path = _write(tmp_path / "m.jsonl", "".join(json.dumps(x) + "\n" for x in lines))
    records = list(read_records(path, text_column="message.body", id_column="id"))
    assert _rows(records) == [
        (1, "1", "мамо я живий", ""),
        (2, "2", None, "field 'message.body' is null"),
        (3, "3", None, "no field 'message.body'"),
        (4, "4", "a literal dotted key", ""),
    ]
    with pytest.raises(InputError, match=r"no field 'message\.text'"):
        list(read_records(path, text_column="message.text"))


# --- xlsx -----------------------------------------------------------------------------


def _workbook(path):
    wb = openpyxl.Workbook()
    first = wb.active
    first.title = "Звіт"
    first.append(["ID", "Текст", "Дата", "Сума"])
    first.append([101, "Мамо, виходьте на Майдан", datetime.datetime(2024, 3, 1, 9, 30), 1.5])
    first.append([102, None, datetime.date(2024, 3, 2), 2.0])
    first.append([None, None, None, None])  # an empty row between two messages
    first.append([104, 12345, datetime.datetime(2024, 3, 4), 3])
    second = wb.create_sheet("other")
    second.append(["text"])
    second.append(["from the second sheet"])
    wb.save(path)
    return path


def test_xlsx_first_sheet_header_numbers_dates_and_empty_rows(tmp_path):
    path = _workbook(tmp_path / "book.xlsx")
    source = Input(path, id_column="id", keep="all")
    records = list(source.records())
    assert _rows(records) == [
        (1, "101", "Мамо, виходьте на Майдан", ""),
        (2, "102", "", "empty text"),
        (3, None, "", "empty text"),
        (4, "104", "12345", ""),
    ]
    assert records[0].meta == {"Дата": "2024-03-01 09:30:00", "Сума": "1.5"}
    assert records[1].meta == {"Дата": "2024-03-02", "Сума": "2"}
    assert records[3].meta == {"Дата": "2024-03-04", "Сума": "3"}


def test_xlsx_sheet_option(tmp_path):
    path = _workbook(tmp_path / "book.xlsx")
    assert [r.text for r in read_records(path, sheet="other")] == ["from the second sheet"]
    with pytest.raises(InputError, match=r"no sheet 'nope'.*'Звіт', 'other'"):
        list(read_records(path, sheet="nope"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "password-protected"),
        (b"id,text\n1,hello\n", "not an .xlsx file"),
    ],
)
def test_encrypted_or_fake_xlsx_is_a_one_line_error(tmp_path, content, message):
    path = tmp_path / "bad.xlsx"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as exc:
        list(read_records(path))
    assert "\n" not in str(exc.value)


def test_corrupt_xlsx_is_a_one_line_error(tmp_path):
    good = _workbook(tmp_path / "book.xlsx")
    bad = tmp_path / "bad.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.startswith("xl/worksheets/sheet1"):
                data = data[: len(data) // 2]  # cut in the middle of the XML
            dst.writestr(info, data)
    with pytest.raises(InputError, match=r"bad\.xlsx") as exc:
        list(read_records(bad))
    assert "\n" not in str(exc.value)


def test_xlsx_zip_bomb_is_refused_before_any_row(tmp_path):
    path = tmp_path / "bomb.xlsx"
    _workbook(tmp_path / "book.xlsx")
    with (
        zipfile.ZipFile(tmp_path / "book.xlsx") as src,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"</sheetData>", b"</sheetData>" + b" " * (50 << 20))
            dst.writestr(info.filename, data, zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 1 << 20
    with pytest.raises(InputError, match="decompression bomb"):
        list(read_records(path))


_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def excel_layout_xlsx(path, texts):
    """An xlsx as Excel writes it (openpyxl writes inline strings): texts in the shared-string table."""
    strings = ["text", *texts]
    sst = "".join(f"<si><t>{t}</t></si>" for t in strings[:-1])
    # the last entry as rich text with a phonetic hint, which is not text
    sst += f'<si><r><t>{strings[-1][:5]}</t></r><r><rPr><b/></rPr><t>{strings[-1][5:]}</t></r><rPh sb="0" eb="1"><t>HINT</t></rPh></si>'
    rows = "".join(
        f'<row r="{i + 1}"><c r="A{i + 1}" t="s"><v>{i}</v></c></row>' for i in range(len(strings))
    )
    parts = {
        "[Content_Types].xml": '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
        "</Types>",
        "_rels/.rels": f'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<?xml version="1.0"?><workbook {_NS} xmlns:r="{_REL}"><sheets>'
        '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": f'<?xml version="1.0"?><worksheet {_NS}><sheetData>{rows}</sheetData></worksheet>',
        "xl/sharedStrings.xml": f'<?xml version="1.0"?><sst {_NS} count="{len(strings)}">{sst}</sst>',
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return path


def test_xlsx_shared_strings_are_not_held_in_memory(tmp_path):
    texts = [f"повідомлення {i} " + "мамо виходьте на майдан " * 8 for i in range(20_000)]
    path = excel_layout_xlsx(tmp_path / "shared.xlsx", texts)
    with zipfile.ZipFile(path) as z:
        assert z.getinfo("xl/sharedStrings.xml").file_size > 5e6
    gc.collect()  # earlier tests' garbage is not this reader's memory
    tracemalloc.start()
    got = []
    for record in read_records(path):
        got.append(record.text == texts[record.row - 1])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(got) == 20_000 and all(got)  # the rich last entry too, without its phonetic hint
    assert peak < 8e6  # the table's texts (12.6 MB held by openpyxl's own reader) stay on disk


# --- the command line -----------------------------------------------------------------


def _score(args, model):
    return CliRunner().invoke(cli, ["score", *args, *model_opts(model), "--jobs", "1"])


def _csv(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_cli_per_file_text_columns(tiny_model, tmp_path):
    a = _write(tmp_path / "a.csv", "body,score\nмамо я живий,7\n")
    b = _write(tmp_path / "b.csv", "message\nпривіт\n")
    c = _write(tmp_path / "c.jsonl", '{"msg": {"text": "hello"}}\n')
    result = _score(
        [str(a), str(b), str(c), "--text-column", "a.csv=body", "--text-column", "message",
         "--text-column", f"{c}=msg.text"],
        tiny_model,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = _csv(result.stdout)
    assert [(r["source"], r["error"]) for r in rows] == [(str(a), ""), (str(b), ""), (str(c), "")]
    bad = _score([str(a), "--text-column", "nope.csv=body"], tiny_model)
    assert bad.exit_code != 0 and "nope.csv" in bad.output and "Traceback" not in bad.output


def test_cli_keep_and_include_text(tiny_model, tmp_path):
    path = _write(
        tmp_path / "in.csv",
        'date;Текст;score;note\n2024-01-01;мамо я живий;5;=HYPERLINK("x")\n2024-01-02;;6;n\n',
    )
    result = _score([str(path), "--keep", "note,date,score", "--include-text"], tiny_model)
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[0].split(",")
    assert header[-6:] == ["error", "campaign", "text", "date", "input_score", "note"]
    rows = _csv(result.stdout)
    assert rows[0]["text"] == "мамо я живий" and rows[0]["date"] == "2024-01-01"
    assert rows[0]["input_score"] == "5" and rows[0]["note"] == '\'=HYPERLINK("x")'  # neutralised
    assert rows[1]["error"] == "empty text" and rows[1]["note"] == "n"
    every = _score([str(path), "--keep", "all", "--format", "jsonl"], tiny_model)
    first = json.loads(every.stdout.splitlines()[0])
    assert list(first)[-3:] == ["date", "input_score", "note"] and "text" not in first
    missing = _score([str(path), "--keep", "nope"], tiny_model)
    assert missing.exit_code != 0 and "no column 'nope'" in missing.output


def test_cli_only_flagged_includes_the_text_by_default(tiny_model, tmp_path):
    path = _write(tmp_path / "in.txt", "Мамо, я в полоні. Виходьте на Майдан, вимагайте обміну\n\n")
    result = _score([str(path), "--only-flagged", "--threshold", "0.01"], tiny_model)
    assert result.exit_code == 0, result.output
    rows = _csv(result.stdout)
    assert rows[0]["text"].startswith("Мамо") and rows[1]["error"] == "empty text"
    plain = _score([str(path), "--only-flagged", "--threshold", "0.01", "--no-include-text"], tiny_model)
    assert "text" not in _csv(plain.stdout)[0]


def test_cli_xlsx_with_sheet_and_keep(tiny_model, tmp_path):
    path = _workbook(tmp_path / "book.xlsx")
    result = _score([str(path), "--keep", "Дата", "--id-column", "id"], tiny_model)
    assert result.exit_code == 0, result.output
    rows = _csv(result.stdout)
    assert [r["id"] for r in rows] == ["101", "102", "", "104"]
    assert rows[0]["Дата"] == "2024-03-01 09:30:00"
    other = _score([str(path), "--sheet", "other"], tiny_model)
    assert other.exit_code == 0 and len(_csv(other.stdout)) == 1


def test_cli_dask_refuses_the_options_it_does_not_support(tiny_model, tmp_path):
    path = _write(tmp_path / "m.csv", "text\nx\n")
    result = _score([str(path), "--engine", "dask", "-o", str(tmp_path / "out"), "--keep", "all"], tiny_model)
    assert result.exit_code != 0 and "--keep" in result.output and "dask" in result.output


def test_suggest_takes_the_read_options(tiny_model, tiny_store, tmp_path):
    path = _write(tmp_path / "m.csv", "id|Повідомлення\n1|мамо виходьте на майдан\n2|привіт\n")
    out = tmp_path / "s.csv"
    result = CliRunner().invoke(
        cli,
        ["suggest", str(path), "--text-column", "2", "--delimiter", "|", "-o", str(out), "-n", "5",
         *model_opts(tiny_model), "--data", str(tiny_store)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(r["text"] for r in _csv(out.read_text(encoding="utf-8"))) == [
        "мамо виходьте на майдан",
        "привіт",
    ]
