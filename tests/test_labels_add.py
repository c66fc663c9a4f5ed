"""labels add in the analysts' format: --dry-run, column mapping, --source, held-out texts."""

import csv

import pytest
from click.testing import CliRunner

from classifier import merge
from classifier.cli import cli
from classifier.errors import DataError
from classifier.labels import read_labelled, store_files

from .conftest import tiny_rows, write_store


def _write(path, header, rows, delimiter=","):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter=delimiter, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _add(*args):
    return CliRunner().invoke(cli, ["labels", "add", *map(str, args)])


def _added(store):
    frame, problems = read_labelled(store_files([store]))
    assert problems == []
    return frame[frame["file"].str.contains("added_")]


# --- --dry-run ---------------------------------------------------------------------------------


def test_dry_run_reports_what_would_be_added_and_writes_nothing(tiny_store, tmp_path):
    stored = tiny_rows()[0]["text"]
    new = _write(
        tmp_path / "n.csv",
        ["text", "label"],
        [["зовсім нове повідомлення", "0"], [stored, "1"], ["ще одне нове", "no"]],
    )
    before = _snapshot(tiny_store)
    result = _add(new, "--store", tiny_store, "--source", "week48", "--dry-run")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "dry run: 3 rows read: 2 would be added, 1 exact duplicate skipped, 0 near duplicates skipped, "
        "0 conflicts"
    )
    assert lines[1].startswith("nothing was written; the rows would go to ")
    assert lines[1].endswith("_week48.csv")
    assert _snapshot(tiny_store) == before  # not even a lock file

    real = _add(new, "--store", tiny_store, "--source", "week48")
    assert real.exit_code == 0 and real.stdout.splitlines()[0].endswith(
        "2 added, 1 exact duplicate skipped, 0 near duplicates skipped, 0 conflicts"
    )


def test_dry_run_lists_conflicts_and_exits_as_the_real_run_would(tiny_store, tmp_path):
    first = tiny_rows()[0]["text"]
    new = _write(tmp_path / "n.csv", ["text", "label", "category"], [[first, "0", "everyday"]])
    before = _snapshot(tiny_store)
    result = _add(new, "--store", tiny_store, "--dry-run")
    assert result.exit_code == 1, result.output
    assert "a real run would add nothing: 1 conflict(s) with stored labels; pass --resolve" in result.stdout
    assert f"conflict with the store: {new}:2 says 0, tiny.csv:2 says 1" in result.stderr
    assert _snapshot(tiny_store) == before
    resolved = _add(new, "--store", tiny_store, "--dry-run", "--resolve", "newest")
    assert resolved.exit_code == 0 and "1 would be added" in resolved.stdout
    assert _snapshot(tiny_store) == before


def test_dry_run_lists_invalid_rows_as_the_real_run_does(tiny_store, tmp_path):
    new = _write(tmp_path / "n.csv", ["text", "label"], [["нове", "maybe"]])
    result = _add(new, "--store", tiny_store, "--dry-run")
    assert result.exit_code == 1
    assert f"{new}:2 [label]: label 'maybe' is not 1/0, yes/no, true/false, так/ні or да/нет" in result.stderr


# --- column mapping ----------------------------------------------------------------------------


def test_headers_match_case_insensitively(tiny_store, tmp_path):
    new = _write(tmp_path / "n.csv", ["TEXT", "Label", "Lang"], [["зовсім нове повідомлення", "Yes", "uk"]])
    result = _add(new, "--store", tiny_store)
    assert result.exit_code == 0, result.output
    row = _added(tiny_store).iloc[0]
    assert (row["text"], row["label"], row["lang"]) == ("зовсім нове повідомлення", "1", "uk")


def test_text_and_label_columns_can_be_named(tiny_store, tmp_path):
    new = _write(
        tmp_path / "n.csv",
        ["id", "Message", "Verdict", "text"],
        [["7", "зовсім нове повідомлення", "0", "not this one"]],
    )
    result = _add(new, "--store", tiny_store, "--text-column", "message", "--label-column", "VERDICT")
    assert result.exit_code == 0, result.output
    assert _added(tiny_store)["text"].tolist() == ["зовсім нове повідомлення"]


def test_a_jsonl_field_can_be_named(tiny_store, tmp_path):
    new = tmp_path / "n.jsonl"
    new.write_text('{"Body": "зовсім нове повідомлення", "is_coerced": false}\n', encoding="utf-8")
    result = _add(new, "--store", tiny_store, "--text-column", "body", "--label-column", "is_coerced")
    assert result.exit_code == 0, result.output
    assert _added(tiny_store)["label"].tolist() == ["0"]


@pytest.mark.parametrize(
    ("header", "options", "message"),
    [
        (
            ["text", "label"],
            ["--text-column", "body"],
            "no column 'body' (--text-column); the header has: text, label",
        ),
        (["text", "Text", "label"], [], "the columns 'text', 'Text' all match 'text'; rename all but one"),
        (
            ["body", "label"],
            ["--text-column", "body", "--label-column", "body"],
            "cannot be both text and label",
        ),
    ],
)
def test_bad_column_mapping_is_one_line_and_adds_nothing(tiny_store, tmp_path, header, options, message):
    new = _write(tmp_path / "n.csv", header, [["зовсім нове"] * len(header)])
    before = _snapshot(tiny_store)
    result = _add(new, "--store", tiny_store, *options)
    assert result.exit_code == 1 and "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    assert message in line
    assert _snapshot(tiny_store) == before


# --- the analysts' files: xlsx, ; CSV from a Ukrainian Excel ---------------------------------------


def _xlsx(path, rows, title="Розмітка"):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def test_labels_come_from_a_spreadsheet_with_its_row_numbers(tiny_store, tmp_path):
    """An analyst's sheet: Cyrillic headers mapped, a number label, an empty row, a stray cell."""
    new = _xlsx(
        tmp_path / "розмітка.xlsx",
        [
            ["№", "Повідомлення", "Мітка", "lang"],
            [1, "Мамо, я в полоні. Виходьте на площу, тисніть на владу", 1, "uk"],
            [None, None, None, None],  # an empty row is not a row
            [2, "Мамо, у мене все добре, не хвилюйся", 0, "uk"],
            [3, "зовсім інше повідомлення", 0, "uk", "стороння клітинка"],
        ],
    )
    args = [new, "--store", tiny_store, "--text-column", "повідомлення", "--label-column", "мітка"]
    dry = _add(*args, "--dry-run")
    assert dry.exit_code == 1, dry.output  # the stray cell: a real run would add nothing either
    assert f"{new}:5: a value in column 5, which has no header; name that column" in dry.stderr
    fixed = _xlsx(new.with_name("fixed.xlsx"), [r[:4] for r in [
        ["№", "Повідомлення", "Мітка", "lang"],
        [1, "Мамо, я в полоні. Виходьте на площу, тисніть на владу", 1, "uk"],
        [None, None, None, None],
        [2, "Мамо, у мене все добре, не хвилюйся", 0, "uk"],
    ]])  # fmt: skip
    args[0] = fixed
    result = _add(*args, "--source", "hotline-week49")
    assert result.exit_code == 0, result.output
    added = _added(tiny_store)
    assert added["label"].tolist() == ["1", "0"]
    assert added["text"].tolist()[0] == "Мамо, я в полоні. Виходьте на площу, тисніть на владу"
    assert set(added["source"]) == {"hotline-week49"}


def test_labels_in_ukrainian_and_russian_words_and_excel_booleans(tiny_store, tmp_path):
    """Текст/Мітка headers; так/ні and да/нет in any case, and FALSE cells, as analysts fill a sheet in."""
    new = _xlsx(tmp_path / "week49.xlsx", [
        ["Текст", "Мітка"],
        ["Мамо, я в полоні, тисніть на владу, бо нас тут кинули", "Так"],
        ["Мамо, не хвилюйся, в мене все добре, годують", "ні"],
        ["Мама, мы в плену, идите к офису президента, пусть нас вернут", "ДА"],
        ["Мама, у меня всё хорошо, кормят нормально", "нет"],
        ["Привіт, купи хліба і молока на вечір", False],
    ])  # fmt: skip
    result = _add(new, "--store", tiny_store)
    assert result.exit_code == 0, result.output
    assert _added(tiny_store)["label"].tolist() == ["1", "0", "1", "0", "0"]


def test_semicolon_csv_in_cp1251_from_a_ukrainian_excel(tiny_store, tmp_path):
    new = tmp_path / "export.csv"
    new.write_bytes(
        'Текст;Label;Lang\r\n"Мамо, виходьте на мітинг; нас тут кинули, тисніть на них";1;uk\r\n'
        "Привіт, як там кіт?;0;uk\r\n".encode("cp1251")
    )
    result = _add(new, "--store", tiny_store, "--text-column", "текст")
    assert result.exit_code == 0, result.output
    added = _added(tiny_store)
    assert added["text"].tolist() == [
        "Мамо, виходьте на мітинг; нас тут кинули, тисніть на них",
        "Привіт, як там кіт?",
    ]
    assert added["label"].tolist() == ["1", "0"]


def test_delimiter_and_sheet_can_be_given(tiny_store, tmp_path):
    piped = _write(tmp_path / "p.csv", ["text", "label"], [["зовсім нове, з комою", "0"]], delimiter="|")
    book = _xlsx(tmp_path / "b.xlsx", [["text", "label"], ["не це", "1"]], title="Інше")
    from openpyxl import load_workbook

    wb = load_workbook(book)
    wb.create_sheet("Тиждень 49").append(["text", "label"])
    wb["Тиждень 49"].append(["ще одне нове повідомлення", "0"])
    wb.save(book)
    result = _add(piped, "--store", tiny_store, "--delimiter", "pipe", "--dry-run")
    assert result.exit_code == 0 and "1 would be added" in result.stdout, result.output
    result = _add(book, "--store", tiny_store, "--sheet", "тиждень 49")
    assert result.exit_code == 0, result.output
    assert _added(tiny_store)["text"].tolist() == ["ще одне нове повідомлення"]
    missing = _add(book, "--store", tiny_store, "--sheet", "Зведення")
    assert missing.exit_code == 1
    assert (
        missing.stderr.strip()
        == f"Error: {book}: no sheet 'Зведення'; the sheets are: 'Інше', 'Тиждень 49'; pass --sheet NAME"
    )


def test_a_latin1_file_is_refused_not_read_as_cyrillic(tiny_store, tmp_path):
    new = tmp_path / "export.csv"
    new.write_bytes("text;label\nCafé déjà vu, à la carte;0\n".encode("latin-1"))
    before = _snapshot(tiny_store)
    result = _add(new, "--store", tiny_store)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip() == (
        f"Error: {new}: not UTF-8, and not Cyrillic text in cp1251 either (it would read 'Cafй'); re-save it as UTF-8"
    )
    assert _snapshot(tiny_store) == before


@pytest.mark.parametrize(
    ("text", "reads"),
    [
        ("text,label\nJe vais à la gare demain,0\nIl est à Paris,0\n", "Je vais а la gare demain,0"),
        ("text,label\nIt costs £5 a day,0\nSend £200 now,0\n", "It costs ё5 a day,0"),
    ],
)
def test_lone_latin1_letters_are_refused_not_read_as_cyrillic(tiny_store, tmp_path, text, reads):
    """A Latin-1 'à' or '£' between Latin words is no Cyrillic word: it was read as one."""
    new = tmp_path / "export.csv"
    new.write_bytes(text.encode("latin-1"))
    before = _snapshot(tiny_store)
    result = _add(new, "--store", tiny_store)
    assert result.exit_code == 1, result.output
    assert "not Cyrillic text in" in result.stderr and repr(reads) in result.stderr
    assert _snapshot(tiny_store) == before


def test_cp1251_with_latin_i_for_cyrillic_i_is_read(tiny_store, tmp_path):
    """Typists write a Latin 'i' for 'і' ("полонi"): the file is still Ukrainian in cp1251."""
    new = tmp_path / "export.csv"
    rows = "text;label\nМамо, я в полонi, тиснiть на владу;1\nПривiт, купи хлiба i молока додому;0\n"
    new.write_bytes(rows.encode("cp1251"))
    result = _add(new, "--store", tiny_store)
    assert result.exit_code == 0, result.output
    assert _added(tiny_store)["text"].tolist()[0] == "Мамо, я в полонi, тиснiть на владу"


def test_evaluate_reads_a_labelled_spreadsheet(tiny_model, tmp_path):
    from .conftest import model_opts

    rows = [["Text", "Label"]] + [[r["text"], r["label"]] for r in tiny_rows()]
    sheet = _xlsx(tmp_path / "eval.xlsx", rows)
    csv_file = _write(tmp_path / "eval.csv", ["text", "label"], rows[1:], delimiter=";")
    outputs = [
        CliRunner().invoke(cli, ["evaluate", "--data", str(f), *model_opts(tiny_model)])
        for f in (sheet, csv_file)
    ]
    assert all(r.exit_code == 0 for r in outputs), [r.output for r in outputs]
    sheet_out, csv_out = (r.stdout.split("\n", 2)[2] for r in outputs)  # after the lines naming the file
    assert "30 rows, 15 positive" in outputs[0].stdout and sheet_out == csv_out and "f1 " in sheet_out


# --- --source ----------------------------------------------------------------------------------


def test_source_is_kept_for_every_row_also_from_a_suggest_file(tiny_store, tmp_path):
    # what suggest writes: the input file and row each message came from
    new = _write(
        tmp_path / "to_label.csv",
        ["text", "label", "lang", "category", "source", "row", "score"],
        [
            ["зовсім нове повідомлення", "0", "uk", "", "export.jsonl", "12", "0.41"],
            ["ще одне нове повідомлення", "0", "uk", "", "", "", "0.39"],
        ],
    )
    result = _add(new, "--store", tiny_store, "--source", "hotline-week48")
    assert result.exit_code == 0, result.output
    assert _added(tiny_store)["source"].tolist() == [
        "hotline-week48 (from export.jsonl row 12)",
        "hotline-week48",
    ]


# --- held-out texts ----------------------------------------------------------------------------


@pytest.fixture
def heldout(tiny_store):
    """A held-out set beside the store, as datasets/heldout/ is beside datasets/labelled/."""
    rows = [
        dict(r, text=f"{r['text']} (варіант для перевірки)", group=f"h{i}")
        for i, r in enumerate(tiny_rows()[:4])
    ]
    return write_store(tiny_store.parent / "heldout" / "heldout.csv", rows)


def test_held_out_texts_are_refused_by_default_and_named(tiny_store, heldout, tmp_path):
    held_text = tiny_rows()[1]["text"] + " (варіант для перевірки)"
    new = _write(
        tmp_path / "n.csv",
        ["text", "label"],
        [["зовсім нове повідомлення", "0"], [held_text.upper() + "  ", "1"]],
    )
    result = _add(new, "--store", tiny_store)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].endswith("1 held-out text refused")
    (line,) = result.stderr.strip().splitlines()
    assert line == (
        f"refused 1 row whose text is in the held-out set (the held-out figures would become optimistic): "
        f"{new}:3 (= {heldout}:3); pass --allow-heldout to add them anyway"
    )
    assert _added(tiny_store)["text"].tolist() == ["зовсім нове повідомлення"]


def test_allow_heldout_adds_them_with_a_warning(tiny_store, heldout, tmp_path):
    held_text = tiny_rows()[1]["text"] + " (варіант для перевірки)"
    new = _write(tmp_path / "n.csv", ["text", "label"], [[held_text, "1"]])
    result = _add(new, "--store", tiny_store, "--allow-heldout")
    assert result.exit_code == 0, result.output
    assert "warning: added 1 row whose text is in the held-out set" in result.stderr
    assert "train refuses the store" in result.stderr
    assert _added(tiny_store)["text"].tolist() == [held_text]


def test_dry_run_reports_held_out_refusals_too(tiny_store, heldout, tmp_path):
    held_text = tiny_rows()[1]["text"] + " (варіант для перевірки)"
    new = _write(tmp_path / "n.csv", ["text", "label"], [[held_text, "1"]])
    before = _snapshot(tiny_store)
    result = _add(new, "--store", tiny_store, "--dry-run")
    assert result.exit_code == 0
    assert "refused 1 row whose text is in the held-out set" in result.stderr
    assert "a real run would add nothing new" in result.stdout
    assert _snapshot(tiny_store) == before


def test_column_map_is_the_one_header_rule():
    assert merge.column_map(["Text", "LABEL", "x"], "f.csv") == {"Text": "text", "LABEL": "label", "x": "x"}
    assert merge.column_map(["body", "text"], "f.csv", text_column="BODY") == {
        "body": "text",
        "text": "text (not used)",
    }
    with pytest.raises(DataError, match="no column 'msg'"):
        merge.column_map(["text"], "f.csv", text_column="msg")
