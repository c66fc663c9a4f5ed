"""Outputs analysts read: xlsx, tsv, --excel CSV, refused extensions, --quiet, --summary-json,
the progress bar, explain --file --row and evaluate --errors."""

import csv
import io
import json

import pytest
from click.testing import CliRunner

from classifier.cli import cli

from .conftest import NEGATIVES, POSITIVES, model_opts, tiny_rows, write_store

FORMULA = '=HYPERLINK("http://evil.example","click")'


@pytest.fixture
def csv_input(tmp_path):
    """A CSV of five messages: a positive, a negative, an empty one, two more; ids include formulas."""
    path = tmp_path / "in.csv"
    rows = [
        ("m1", POSITIVES[0][1]),
        (FORMULA, NEGATIVES[3][2]),
        ("#N/A", ""),
        ("-2+3", POSITIVES[5][1]),
        ("m5", NEGATIVES[9][2]),
    ]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["msg_id", "text"])
        w.writerows(rows)
    return path, rows


def _score(model, *args):
    return CliRunner().invoke(cli, ["score", *map(str, args), *model_opts(model), "--jobs", "1"])


def test_xlsx_output_is_typed_frozen_and_keeps_formula_text_as_text(tiny_model, csv_input, tmp_path):
    import openpyxl

    path, rows = csv_input
    out = tmp_path / "scored.xlsx"
    result = _score(tiny_model, path, "--id-column", "msg_id", "-o", out)
    assert result.exit_code == 0, result.output
    book = openpyxl.load_workbook(out)
    assert len(book.worksheets) == 1
    sheet = book.worksheets[0]
    assert sheet.freeze_panes == "A2"
    table = list(sheet.iter_rows(values_only=True))
    header = list(table[0])
    assert header == [
        "source",
        "row",
        "msg_id",
        "lang",
        "score",
        "flagged",
        "reasons",
        "truncated",
        "error",
        "campaign",
    ]
    body = [dict(zip(header, r, strict=True)) for r in table[1:]]
    assert [r["row"] for r in body] == [1, 2, 3, 4, 5]
    assert [r["msg_id"] for r in body] == [r[0] for r in rows]  # exact text, no quote added
    expected = tiny_model.predict_proba([t for _, t in rows if t])
    scored = [r for r in body if r["error"] is None]
    assert all(type(r["score"]) is float and type(r["flagged"]) is bool for r in scored)
    assert [r["score"] for r in scored] == pytest.approx(list(expected), abs=1e-9)
    assert [r["flagged"] for r in scored] == [s >= tiny_model.threshold for s in expected]
    error_row = body[2]
    assert error_row["error"] == "empty text" and error_row["score"] is None and error_row["flagged"] is None
    assert all(type(r["truncated"]) is bool for r in body)
    # the formula-like ids are text cells that a spreadsheet shows and never evaluates
    for row_number in (3, 4, 5):  # =HYPERLINK(...), #N/A, -2+3
        cell = sheet.cell(row=row_number, column=3)
        assert cell.data_type == "s", (cell.value, cell.data_type)
    assert sheet.cell(row=3, column=3).quotePrefix and sheet.cell(row=5, column=3).quotePrefix
    assert not sheet.cell(row=2, column=3).quotePrefix
    # widths from the header and the first rows, within bounds
    widths = {k: v.width for k, v in sheet.column_dimensions.items()}
    assert widths["A"] == min(len(str(path)) + 2, 60) and widths["B"] == 6  # "row" and numbers: the minimum
    assert max(widths.values()) <= 60
    assert not list(tmp_path.glob(".*.part"))


def test_xlsx_continues_on_new_sheets_past_the_row_limit(tiny_model, csv_input, tmp_path, monkeypatch):
    import openpyxl

    from classifier import writers

    monkeypatch.setattr(writers, "XLSX_MAX_ROWS", 3)  # header + 2 data rows a sheet
    path, _ = csv_input
    out = tmp_path / "scored.xlsx"
    result = _score(tiny_model, path, "-o", out)
    assert result.exit_code == 0, result.output
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["scores", "scores 2", "scores 3"]
    rows = []
    for sheet in book.worksheets:
        assert sheet.freeze_panes == "A2"
        table = list(sheet.iter_rows(values_only=True))
        assert table[0][:2] == ("source", "row") and len(table) <= 3
        rows += [r[1] for r in table[1:]]
    assert rows == [1, 2, 3, 4, 5]


def test_xlsx_cuts_a_cell_past_excels_limit_and_says_so(tmp_path):
    import openpyxl
    import pandas as pd

    from classifier.writers import XLSX_MAX_CELL, write_table

    frame = pd.DataFrame({"text": ["я" * (XLSX_MAX_CELL + 10), "ok\x1bx"]})
    write_table(frame, tmp_path / "t.xlsx")
    sheet = openpyxl.load_workbook(tmp_path / "t.xlsx").worksheets[0]
    cut = sheet.cell(row=2, column=1).value
    assert len(cut) <= XLSX_MAX_CELL and "more characters" in cut
    assert sheet.cell(row=3, column=1).value == "ok⟨U+001B⟩x"


def test_tsv_output_is_tab_separated(tiny_model, csv_input, tmp_path):
    path, _ = csv_input
    out = tmp_path / "scored.tsv"
    result = _score(tiny_model, path, "--id-column", "msg_id", "-o", out)
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "\t".join(
        ["source", "row", "msg_id", "lang", "score", "flagged", "reasons", "truncated", "error", "campaign"]
    )
    table = list(csv.DictReader(io.StringIO(text), delimiter="\t"))
    assert [r["row"] for r in table] == ["1", "2", "3", "4", "5"]
    assert table[1]["msg_id"] == "'" + FORMULA  # neutralised as in CSV
    assert table[2]["error"] == "empty text"


@pytest.mark.parametrize("name", ["out.txt", "out.xls", "out.json", "out.csv.gz", "out"])
def test_unknown_output_extension_is_refused_and_writes_nothing(tiny_model, csv_input, tmp_path, name):
    path, _ = csv_input
    out = tmp_path / "o" / name
    out.parent.mkdir()
    result = _score(tiny_model, path, "-o", out)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {out}: ")
    assert ".csv, .tsv, .jsonl, .parquet or .xlsx" in lines[0] and "--format" in lines[0]
    assert list(out.parent.iterdir()) == []


def test_format_contradicting_the_extension_is_refused(tiny_model, csv_input, tmp_path):
    path, _ = csv_input
    out = tmp_path / "scored.xlsx"
    result = _score(tiny_model, path, "-o", out, "--format", "csv")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"Error: {out} has the extension .xlsx but --format is csv; change the extension or --format"
    )
    assert not out.exists()


def test_xlsx_to_stdout_is_refused(tiny_model, csv_input):
    result = _score(tiny_model, csv_input[0], "--format", "xlsx")
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: xlsx output needs a file: pass -o FILE.xlsx"


def test_excel_csv_has_a_bom_and_neutralised_cells(tiny_model, csv_input, tmp_path):
    path, _ = csv_input
    out = tmp_path / "scored.csv"
    result = _score(tiny_model, path, "--id-column", "msg_id", "-o", out, "--excel")
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfsource,row,")
    table = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert table[1]["msg_id"] == "'" + FORMULA and table[3]["msg_id"] == "'-2+3"
    plain = tmp_path / "plain.csv"
    assert _score(tiny_model, path, "--id-column", "msg_id", "-o", plain).exit_code == 0
    assert plain.read_bytes() == data[3:]  # one code path: --excel adds the BOM, nothing else
    stdout = _score(tiny_model, path, "--excel")
    assert stdout.exit_code == 0 and stdout.stdout.startswith("\ufeffsource,row,")


@pytest.mark.parametrize(
    ("name", "option"), [("s.jsonl", "jsonl"), ("s.xlsx", "xlsx"), ("s.parquet", "parquet")]
)
def test_excel_is_for_csv_only(tiny_model, csv_input, tmp_path, name, option):
    result = _score(tiny_model, csv_input[0], "-o", tmp_path / name, "--excel")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"Error: --excel is for CSV output (a BOM for Excel); {option} output does not take it"
    )


def test_summary_json_counts_each_input_and_is_atomic(tiny_model, csv_input, tmp_path):
    path, _ = csv_input
    txt = tmp_path / "m.txt"
    txt.write_text(f"{POSITIVES[1][1]}\n\n{NEGATIVES[0][2]}\n", encoding="utf-8")
    out, summary_path = tmp_path / "out.csv", tmp_path / "run" / "summary.json"
    result = _score(tiny_model, path, txt, "-o", out, "--summary-json", summary_path)
    assert result.exit_code == 0, result.output
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    table = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    flagged = {
        str(p): sum(r["flagged"] == "true" for r in table if r["source"] == str(p)) for p in (path, txt)
    }
    assert summary["model"] == tiny_model.version
    assert summary["threshold"] == tiny_model.threshold
    assert (summary["rows"], summary["scored"], summary["errors"]) == (8, 6, 2)
    assert summary["flagged"] == sum(flagged.values()) and summary["written"] == 8
    assert summary["inputs"] == {
        str(path): {"rows": 5, "scored": 4, "flagged": flagged[str(path)], "errors": 1},
        str(txt): {"rows": 3, "scored": 2, "flagged": flagged[str(txt)], "errors": 1},
    }
    assert isinstance(summary["seconds"], float) and summary["seconds"] >= 0
    assert summary["output"] == str(out) and summary["format"] == "csv"
    assert sorted(p.name for p in summary_path.parent.iterdir()) == ["summary.json"]


def test_summary_json_never_replaces_an_input_or_the_output(tiny_model, csv_input, tmp_path):
    path, _ = csv_input
    before = path.read_bytes()
    result = _score(tiny_model, path, "-o", tmp_path / "o.csv", "--summary-json", path)
    assert result.exit_code == 2 and "is the input" in result.stderr
    assert path.read_bytes() == before
    same = _score(tiny_model, path, "-o", tmp_path / "o.csv", "--summary-json", tmp_path / "o.csv")
    assert same.exit_code == 2 and "--summary-json is the -o file" in same.stderr


def test_quiet_prints_nothing_on_stderr(tiny_model, csv_input, tmp_path):
    path, _ = csv_input
    loud = _score(tiny_model, path, "-o", tmp_path / "a.csv")
    assert "5 rows read" in loud.stderr
    quiet = _score(tiny_model, path, "-o", tmp_path / "b.csv", "--quiet")
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert (tmp_path / "b.csv").read_text(encoding="utf-8") == (tmp_path / "a.csv").read_text(
        encoding="utf-8"
    )


def test_quiet_still_reports_errors_and_the_exit_code(tiny_model, tmp_path):
    empty = tmp_path / "e.txt"
    empty.write_text("\n\n", encoding="utf-8")
    result = _score(tiny_model, empty, "-o", tmp_path / "o.csv", "-q")
    assert result.exit_code == 3 and result.stderr == ""
    missing = _score(tiny_model, tmp_path / "nope.txt", "-q")
    assert missing.exit_code == 2 and missing.stderr.startswith("Error: ")


def test_progress_bar_shows_percent_and_eta_for_regular_files(tiny_model, tmp_path, capsys):
    from classifier.scoring import score_files

    src = tmp_path / "m.txt"
    src.write_text("\n".join([POSITIVES[0][1], NEGATIVES[0][2]] * 50) + "\n", encoding="utf-8")
    score_files([src], str(tmp_path / "o.csv"), tiny_model, jobs=1, progress=True, chunk_size=10)
    err = capsys.readouterr().err
    assert "100%" in err and "<" in err  # tqdm's [elapsed<remaining]
    assert "100 msg" in err


def test_progress_bar_counts_messages_when_the_size_is_unknown(tiny_model, tmp_path, capsys):
    from classifier.scoring import score_files

    folder = tmp_path / "calls"
    folder.mkdir()
    (folder / "1.txt").write_text(POSITIVES[0][1], encoding="utf-8")
    score_files([folder], str(tmp_path / "o.csv"), tiny_model, jobs=1, progress=True, by_file=True)
    err = capsys.readouterr().err
    assert "%" not in err and "1.00 msg" in err


def test_dask_refuses_the_local_only_output_options(tiny_model, csv_input, tmp_path):
    path, _ = csv_input
    for extra, name in (
        (["--format", "xlsx"], "--format xlsx"),
        (["--format", "tsv"], "--format tsv"),
        (["--excel"], "--excel"),
    ):
        result = _score(tiny_model, path, "--engine", "dask", "-o", tmp_path / "out", *extra)
        assert result.exit_code == 2, result.output
        assert result.stderr.strip() == (
            f"Error: {name} is not supported with --engine dask (its parts are parquet, csv or jsonl); "
            "score with the local engine"
        )
    assert not (tmp_path / "out").exists()


# --- explain --file F --row N -------------------------------------------------------------


def _explain(model, *args):
    return CliRunner().invoke(cli, ["explain", *map(str, args), *model_opts(model)])


def test_explain_row_of_an_input_file_is_explain_of_its_text(tiny_model, csv_input):
    path, rows = csv_input
    result = _explain(tiny_model, "--file", path, "--row", 4)
    assert result.exit_code == 0, result.output
    direct = _explain(tiny_model, rows[3][1])
    first, rest = result.stdout.split("\n", 1)
    assert first == f"{path} row 4"
    assert rest == direct.stdout


def test_explain_row_numbers_lines_of_a_txt_as_score_does(tiny_model, tmp_path):
    src = tmp_path / "m.txt"
    src.write_text(f"{NEGATIVES[0][2]}\n\n{POSITIVES[2][1]}\n", encoding="utf-8")
    result = _explain(tiny_model, "--file", src, "--row", 3)
    assert result.exit_code == 0, result.output
    assert result.stdout.split("\n", 1)[1] == _explain(tiny_model, POSITIVES[2][1]).stdout
    empty = _explain(tiny_model, "--file", src, "--row", 2)
    assert empty.exit_code == 2
    assert empty.stderr.strip() == f"Error: {src} row 2 has no text to explain (empty text)"


def test_explain_row_of_a_scored_file_uses_its_row_column(tiny_model, tmp_path):
    scored = tmp_path / "scored.csv"
    with open(scored, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["source", "row", "lang", "score", "flagged", "text"])
        w.writerow(["a.txt", 5, "uk", 0.1, "false", NEGATIVES[1][2]])
        w.writerow(["a.txt", 7, "uk", 0.9, "true", "'=" + POSITIVES[0][1]])  # as the CSV writer escapes it
    result = _explain(tiny_model, "--file", scored, "--row", 7)
    assert result.exit_code == 0, result.output
    assert result.stdout.split("\n", 1)[1] == _explain(tiny_model, "=" + POSITIVES[0][1]).stdout


@pytest.mark.parametrize("case", ["out of range", "no text column", "scored without text", "no --row"])
def test_explain_row_errors_are_one_line(tiny_model, csv_input, tmp_path, case):
    path, _ = csv_input
    if case == "out of range":
        args, message = ["--file", path, "--row", 9], f"{path} has 5 rows; pass --row from 1 to 5"
    elif case == "no text column":
        bad = tmp_path / "b.csv"
        bad.write_text("id,body\n1,hello\n", encoding="utf-8")
        args = ["--file", bad, "--row", 1]
        message = f"{bad}: no column 'text'; the columns are: id, body; pass --text-column NAME or NUMBER"
    elif case == "scored without text":
        out = tmp_path / "scored.csv"
        assert _score(tiny_model, path, "-o", out).exit_code == 0
        args = ["--file", out, "--row", 1]
        message = (
            f"{out} is a scored file without the message text; score with --include-text, "
            "or explain the input file named in its source column"
        )
    else:
        args, message = ["--file", path], "--file needs --row N (the row number that score gives)"
    result = _explain(tiny_model, *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"Error: {message}"


def test_explain_needs_text_or_file_not_both(tiny_model, csv_input):
    path, _ = csv_input
    both = _explain(tiny_model, "hello", "--file", path, "--row", 1)
    assert both.exit_code == 2 and "either TEXT or --file" in both.stderr
    neither = _explain(tiny_model)
    assert neither.exit_code == 2 and "either TEXT or --file" in neither.stderr


# --- evaluate --errors ----------------------------------------------------------------------


def test_evaluate_errors_lists_false_positives_and_negatives(tiny_model, tmp_path):
    rows = tiny_rows()
    rows[0]["label"], rows[0]["source"] = 0, "week48"  # a positive text labelled 0: a false positive
    rows[-1]["label"] = 1  # a negative text labelled 1: a false negative
    rows[-1]["text"] = "=" + rows[-1]["text"]  # formula-like text: neutralised in the CSV
    data = write_store(tmp_path / "data.csv", rows)
    out = tmp_path / "review" / "errors.csv"
    result = CliRunner().invoke(
        cli, ["evaluate", *model_opts(tiny_model), "--data", str(data), "--errors", str(out)]
    )
    assert result.exit_code == 0, result.output
    scores = tiny_model.predict_proba([r["text"] for r in rows])
    flagged = scores >= tiny_model.threshold
    expected = {
        (r["text"], int(r["label"]))
        for r, f in zip(rows, flagged, strict=True)
        if bool(f) != (int(r["label"]) == 1)
    }
    assert len(expected) >= 2
    table = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert list(table[0]) == ["kind", "text", "label", "score", "category", "lang", "writer", "source"]
    from classifier._cells import unescape_cell

    assert {(unescape_cell(r["text"]), int(r["label"])) for r in table} == expected
    assert {r["kind"] for r in table} == {"false positive", "false negative"}
    fp = next(r for r in table if r["text"] == rows[0]["text"])
    assert fp["kind"] == "false positive" and fp["source"] == "week48" and fp["writer"] == rows[0]["writer"]
    assert float(fp["score"]) == pytest.approx(scores[0], abs=1e-6)
    assert any(r["text"] == "'" + rows[-1]["text"] for r in table)
    assert f"{len(expected)} misclassified rows written to {out}" in result.stdout

    again = CliRunner().invoke(
        cli, ["evaluate", *model_opts(tiny_model), "--data", str(data), "--errors", str(out)]
    )
    assert again.exit_code == 2
    assert (
        again.stderr.strip()
        == f"Error: {out} exists; pass --overwrite to replace it, or choose another --errors"
    )
    replaced = CliRunner().invoke(
        cli, ["evaluate", *model_opts(tiny_model), "--data", str(data), "--errors", str(out), "--overwrite"]
    )
    assert replaced.exit_code == 0, replaced.output


def test_evaluate_errors_never_writes_over_its_data(tiny_model, tmp_path):
    data = write_store(tmp_path / "data.csv", tiny_rows())
    before = data.read_bytes()
    result = CliRunner().invoke(
        cli, ["evaluate", *model_opts(tiny_model), "--data", str(data), "--errors", str(data), "--overwrite"]
    )
    assert result.exit_code == 2 and "is the input" in result.stderr
    assert data.read_bytes() == before


def test_dask_takes_quiet_and_summary_json(tiny_model, tmp_path):
    src = tmp_path / "m.txt"
    src.write_text(f"{POSITIVES[0][1]}\n\n{NEGATIVES[0][2]}\n", encoding="utf-8")
    out, summary_path = tmp_path / "scored", tmp_path / "summary.json"
    args = ["--engine", "dask", "-j", "1", "-o", out, "--summary-json", summary_path, "-q"]
    result = _score(tiny_model, src, *args)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    assert (summary["rows"], summary["scored"], summary["errors"], summary["format"]) == (3, 2, 1, "parquet")
    assert {k: v["rows"] for k, v in summary["inputs"].items()} == {str(src): 3}
    inside = _score(
        tiny_model,
        src,
        "--engine",
        "dask",
        "-o",
        tmp_path / "o2",
        "--summary-json",
        tmp_path / "o2" / "s.json",
    )
    assert inside.exit_code == 2 and "inside the output folder" in inside.stderr


def test_evaluate_errors_redact_masks_personal_data(tiny_model, tmp_path):
    rows = tiny_rows()
    rows[0]["label"] = 0  # a false positive whose text holds a phone, an e-mail and a handle
    rows[0]["text"] += " Дзвони +380 67 123 45 67, пиши olena.k@ukr.net або @olena_k"
    data = write_store(tmp_path / "data.csv", rows)
    out = tmp_path / "errors.csv"
    result = CliRunner().invoke(
        cli, ["evaluate", *model_opts(tiny_model), "--data", str(data), "--errors", str(out), "--redact"]
    )
    assert result.exit_code == 0, result.output
    written = out.read_text(encoding="utf-8")
    assert "Дзвони" in written  # the row is there
    assert "123 45 67" not in written and "olena.k@ukr.net" not in written and "@olena_k" not in written
